// The one client-side route: /chat/<conversationId>, the address in notification emails
// ({FRONTEND_URL}/chat/{conversationId}); the gateway answers it with index.html.
const CHAT_PATH = /^\/chat\/([0-9a-f]{24})\/?$/;

export function conversationInUrl(): string | null {
  return CHAT_PATH.exec(window.location.pathname)?.[1] ?? null;
}

export function showConversationInUrl(conversationId: string | null): void {
  const path = conversationId ? `/chat/${conversationId}` : "/";
  if (window.location.pathname !== path) window.history.replaceState(null, "", path);
}

// The admin page's own address, so a reload (or a bookmark) stays on it.
const ADMIN_PATH = "/admin";

export function adminInUrl(): boolean {
  return window.location.pathname.replace(/\/$/, "") === ADMIN_PATH;
}

export function showAdminInUrl(): void {
  if (!adminInUrl()) window.history.replaceState(null, "", ADMIN_PATH);
}
