// The REST client: the session (tokens in localStorage), JSON requests with the bearer token,
// and refresh tokens used before the access token expires (and once more after a 401).
import type { User } from "./types";

const API_BASE = import.meta.env.VITE_API_BASE_URL ?? "/api";
const STORAGE_KEY = "workcity.session";
// Refresh this long before the access token's `exp` (tokens live 15 minutes by default).
const REFRESH_MARGIN_MS = 60_000;
const MIN_REFRESH_DELAY_MS = 5_000;

export interface Session {
  token: string;
  refreshToken: string;
  user: User;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

type Listener = (session: Session | null) => void;

let session: Session | null = load();
let refreshing: Promise<boolean> | null = null;
let refreshTimer: number | undefined;
const listeners = new Set<Listener>();

function load(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function setSession(next: Session | null): void {
  session = next;
  if (next) localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else localStorage.removeItem(STORAGE_KEY);
  scheduleRefresh();
  listeners.forEach((listener) => listener(next));
}

export function currentSession(): Session | null {
  return session;
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function tokenExpiry(token: string): number | null {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof payload.exp === "number" ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

// A token that cannot be read or expires within this margin is refreshed before it is used.
const USABLE_MARGIN_MS = 10_000;

function usable(token: string): boolean {
  const expiry = tokenExpiry(token);
  return expiry !== null && expiry - Date.now() > USABLE_MARGIN_MS;
}

/** The access token, refreshed first when it is unreadable or about to expire (a laptop that
 * slept past the scheduled refresh), so a known-bad token is never presented. */
export async function freshToken(): Promise<string | null> {
  if (session && !usable(session.token)) await refresh();
  return session?.token ?? null;
}

function scheduleRefresh(): void {
  window.clearTimeout(refreshTimer);
  const expiry = session ? tokenExpiry(session.token) : null;
  if (expiry === null) return;
  const delay = Math.max(expiry - Date.now() - REFRESH_MARGIN_MS, MIN_REFRESH_DELAY_MS);
  refreshTimer = window.setTimeout(() => void refresh(), delay);
}

/** Trades the refresh token for new tokens, once at a time; false (and signed out) when the
 * login is over (expired, reused, the user disabled). */
export function refresh(): Promise<boolean> {
  if (!session) return Promise.resolve(false);
  refreshing ??= (async () => {
    const current = session;
    if (!current) return false;
    try {
      const answer = await fetch(`${API_BASE}/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refreshToken: current.refreshToken }),
      });
      if (answer.status === 400 || answer.status === 401 || answer.status === 403) {
        setSession(null);
        return false;
      }
      if (!answer.ok) {
        scheduleRefresh();
        return false;
      }
      const tokens = (await answer.json()) as { token: string; refreshToken: string };
      setSession({ ...current, token: tokens.token, refreshToken: tokens.refreshToken });
      return true;
    } catch {
      // Offline: try again shortly; the socket's reconnect will use the token we end up with.
      window.clearTimeout(refreshTimer);
      refreshTimer = window.setTimeout(() => void refresh(), MIN_REFRESH_DELAY_MS);
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// What to say when an answer carries no message of its own (the gateway's own pages, a proxy).
const STATUS_WORDS: Record<number, string> = {
  413: "That file is too large to upload.",
  415: "That kind of file cannot be sent.",
  429: "Too many requests at once. Wait a moment and try again.",
  502: "The service is unavailable right now. Try again shortly.",
  503: "The service is busy right now. Try again shortly.",
  504: "The service took too long to answer. Try again shortly.",
};

async function errorOf(answer: Response): Promise<ApiError> {
  let message = STATUS_WORDS[answer.status] ?? `The server answered ${answer.status}`;
  let code: string | undefined;
  try {
    const body = await answer.json();
    if (typeof body?.msg === "string") message = body.msg;
    if (typeof body?.code === "string") code = body.code;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(answer.status, message, code);
}

/** A request with the bearer token (fresh first), sent again once after a refresh on a 401.
 * Throws an ApiError in words when the server cannot be reached or answers an error. */
async function authorized(method: string, path: string, body?: BodyInit, contentType?: string): Promise<Response> {
  const send = () =>
    fetch(`${API_BASE}${path}`, {
      method,
      headers: {
        ...(contentType ? { "Content-Type": contentType } : {}),
        ...(session ? { Authorization: `Bearer ${session.token}` } : {}),
      },
      body,
    });
  let answer: Response;
  try {
    if (session && !path.startsWith("/auth/")) await freshToken();
    answer = await send();
    if (answer.status === 401 && session && (await refresh())) answer = await send();
  } catch {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
  if (!answer.ok) throw await errorOf(answer);
  return answer;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const json = body === undefined ? undefined : JSON.stringify(body);
  const answer = await authorized(method, path, json, json === undefined ? undefined : "application/json");
  if (answer.status === 204) return undefined as T;
  return (await answer.json()) as T;
}

/** Uploads one file to a conversation (multipart, field `file`); the browser sets the boundary. */
export async function uploadFile<T>(conversationId: string, file: File): Promise<T> {
  const form = new FormData();
  form.append("file", file, file.name);
  const answer = await authorized("POST", `/conversations/${conversationId}/attachments`, form);
  return (await answer.json()) as T;
}

/** An attachment's bytes (the download needs the bearer token, so no plain link will do). */
export async function fetchFile(attachmentId: string): Promise<Blob> {
  const answer = await authorized("GET", `/attachments/${attachmentId}`);
  return answer.blob();
}

export async function signIn(email: string, password: string): Promise<Session> {
  const answer = await api<Session>("POST", "/auth/login", { email, password });
  setSession({ token: answer.token, refreshToken: answer.refreshToken, user: answer.user });
  return answer;
}

export async function signUp(email: string, password: string): Promise<Session> {
  await api<unknown>("POST", "/auth/signup", { email, password });
  return signIn(email, password);
}

export async function signOut(): Promise<void> {
  const current = session;
  if (current) {
    await api("POST", "/auth/logout", { refreshToken: current.refreshToken }).catch(() => {});
  }
  setSession(null);
}


scheduleRefresh();
