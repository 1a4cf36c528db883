import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The URL prefix of the nbmlops server extension, below the server's base URL. */
export const API_PREFIX = 'nbmlops/api';

/** An error answer of the nbmlops API: `{"error": {"code", "message", ...}}`. */
export class ApiError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    readonly code: string,
    message: string,
    readonly detail: Record<string, unknown> = {}
  ) {
    super(response, message);
  }
}

/**
 * Call an nbmlops route and return its JSON. The URL is built from the server
 * settings' baseUrl, so it works behind JupyterHub and proxies; the request carries
 * Jupyter's own credentials (token header or cookie + XSRF), same-origin only.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  query: Record<string, string | number | undefined | null> = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') {
      params.set(key, String(value));
    }
  }
  const search = params.toString();
  const url =
    URLExt.join(settings.baseUrl, API_PREFIX, endPoint) + (search ? `?${search}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = data && typeof data === 'object' ? data.error : null;
    if (err && typeof err === 'object') {
      const { code, message, ...detail } = err;
      throw new ApiError(response, String(code), String(message), detail);
    }
    throw new ApiError(
      response,
      'http_error',
      `HTTP ${response.status} from ${endPoint}: ${text.slice(0, 200)}`
    );
  }
  return data as T;
}
