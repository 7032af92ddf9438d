// The tab's title counts unread messages ("(3) Workcity Chat"), so a person in another tab sees
// that something arrived.
import { useEffect } from "react";
import type { Conversation } from "../types";

const BASE_TITLE = document.title || "Workcity Chat";

/** Unread messages of every conversation but the open one (that one is being read). */
export function unreadOutside(conversations: readonly Conversation[], openId: string | null | undefined): number {
  return conversations.reduce((sum, c) => sum + (c._id === openId ? 0 : (c.unreadCount ?? 0)), 0);
}

export function useUnreadTitle(count: number): void {
  useEffect(() => {
    document.title = count > 0 ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
    return () => {
      document.title = BASE_TITLE;
    };
  }, [count]);
}
