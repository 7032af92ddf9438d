// A conversation's private notes and activity for the agent's thread, kept live: `noteCreated`
// adds a note, a `conversationUpdated` of this conversation fetches its activity again, and a
// reconnect fetches both (what happened while the socket was away).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Socket } from "socket.io-client";
import { api } from "../api";
import { ActivityLine } from "../components/ActivityLine";
import { NoteItem } from "../components/NoteItem";
import type { TimelineItem } from "../components/threadSlots";
import { useSocketEvent } from "../realtime";
import type { Activity, Conversation, Note } from "../types";

// Several desk changes in a row (a transfer: team, assignee) are fetched once.
const ACTIVITY_DEBOUNCE_MS = 200;

function byId<T extends { _id: string }>(current: T[], incoming: T[]): T[] {
  const seen = new Set(current.map((x) => x._id));
  return [...current, ...incoming.filter((x) => !seen.has(x._id))];
}

export function useDeskTimeline(conversationId: string, socket: Socket, onError: (e: unknown) => void) {
  const [notes, setNotes] = useState<Note[]>([]);
  const [activity, setActivity] = useState<Activity[]>([]);
  const timer = useRef<number | undefined>(undefined);
  const path = `/conversations/${conversationId}`;
  // An answer about the conversation shown before is dropped.
  const shown = useRef(path);
  shown.current = path;

  const loadActivity = useCallback(() => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      api<Activity[]>("GET", `${path}/activity`)
        .then((entries) => shown.current === path && setActivity(entries))
        .catch(onError);
    }, ACTIVITY_DEBOUNCE_MS);
  }, [path, onError]);

  const loadAll = useCallback(() => {
    api<Note[]>("GET", `${path}/notes`)
      .then((page) => shown.current === path && setNotes((current) => byId(current, page)))
      .catch(onError);
    loadActivity();
  }, [path, onError, loadActivity]);

  useEffect(() => {
    setNotes([]);
    setActivity([]);
    loadAll();
    socket.on("connect", loadAll);
    return () => {
      socket.off("connect", loadAll);
      window.clearTimeout(timer.current);
    };
  }, [socket, loadAll]);

  useSocketEvent<{ note: Note }>(
    socket,
    "noteCreated",
    useCallback(
      ({ note }) => note.conversation === conversationId && setNotes((current) => byId(current, [note])),
      [conversationId],
    ),
  );
  useSocketEvent<{ conversation: Conversation }>(
    socket,
    "conversationUpdated",
    useCallback(
      ({ conversation }) => conversation._id === conversationId && loadActivity(),
      [conversationId, loadActivity],
    ),
  );

  const addNote = useCallback(
    async (text: string) => {
      const note = await api<Note>("POST", `${path}/notes`, { text });
      setNotes((current) => byId(current, [note]));
    },
    [path],
  );

  const items = useMemo<TimelineItem[]>(
    () => [
      ...notes.map((n) => ({ key: `note-${n._id}`, at: n.createdAt, node: <NoteItem note={n} /> })),
      ...activity.map((a) => ({ key: `activity-${a._id}`, at: a.at, node: <ActivityLine activity={a} /> })),
    ],
    [notes, activity],
  );
  return { items, addNote, reloadActivity: loadActivity };
}
