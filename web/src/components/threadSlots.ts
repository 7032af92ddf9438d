// What a face adds to a Thread without the Thread knowing it: lines shown among the messages by
// time (the agent's private notes and activity), and its own composer tools (a switch to write
// a note, canned responses).
import type { KeyboardEvent, ReactNode } from "react";
import type { Message } from "../types";

export interface TimelineItem {
  key: string;
  /** ISO time: the item is shown after the messages sent before it. */
  at: string;
  node: ReactNode;
}

/** A composer key handler: true when it used the key (the composer then ignores it). */
export type KeyHook = (event: KeyboardEvent<HTMLTextAreaElement>) => boolean;

export interface Draft {
  text: string;
  setText: (text: string) => void;
  focus: () => void;
  /** Set by a tool that wants the composer's keys first (arrows and Enter in a picker). */
  keys: { current: KeyHook | null };
}

export interface ComposeOptions {
  /** Shown above the composer, even where the thread is read-only (a note switch). */
  extras?: (draft: Draft) => ReactNode;
  /** Sends the text elsewhere (a private note): no message, and no typing is announced. */
  send?: (text: string) => Promise<void>;
  placeholder?: string;
  /** The composer's background, so a note is never mistaken for a reply. */
  background?: string;
}

/** Messages (by seq) and timeline items (by time) in one list; a message sent at the same
 * moment as an item comes first. */
export function interleave(messages: Message[], items: TimelineItem[]): (Message | TimelineItem)[] {
  if (items.length === 0) return messages;
  const sorted = [...items].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const out: (Message | TimelineItem)[] = [];
  let next = 0;
  for (const message of messages) {
    const sent = Date.parse(message.createdAt);
    while (next < sorted.length && Date.parse(sorted[next].at) < sent) out.push(sorted[next++]);
    out.push(message);
  }
  return out.concat(sorted.slice(next));
}
