// One conversation: its messages (live, with typing and read ticks), and the composer. After a
// reconnect it joins the room again and fetches what arrived meanwhile by `seq`.
import { Alert, Box, Button, Group, Paper, ScrollArea, Stack, Text, Textarea } from "@mantine/core";
import { Fragment, useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import type { Socket } from "socket.io-client";
import { api, ApiError } from "../api";
import { useSocketEvent } from "../realtime";
import type { Message, PersonRef, User } from "../types";
import { AttachmentView } from "./AttachmentView";
import { interleave, type ComposeOptions, type KeyHook, type TimelineItem } from "./threadSlots";
import { AttachButton, PendingUploads, useUploads } from "./Uploads";

const PAGE = 50;
const CATCH_UP_PAGE = 200;
// Typing is announced at most this often, and stops after this long without a keystroke.
const TYPING_EVERY_MS = 2_000;
const TYPING_IDLE_MS = 3_000;
// Someone else's "typing" is shown this long unless their stopTyping comes first.
const TYPING_SHOWN_MS = 6_000;
const ACK_TIMEOUT_MS = 8_000;

interface Props {
  conversationId: string;
  me: User;
  socket: Socket;
  header?: ReactNode;
  /** Null: the composer is shown; otherwise why it is not (e.g. "Claim it to reply"). */
  readOnlyReason?: string | null;
  /** Lines among the messages by time (the agent's notes and activity). */
  timeline?: TimelineItem[];
  compose?: ComposeOptions;
}

interface TypingPayload {
  user: PersonRef;
  conversationId: string;
}

interface ReadPayload {
  conversationId: string;
  userId: string;
  seq: number;
}

function messageId(): string {
  // crypto.randomUUID needs a secure context; plain http on a LAN address has none.
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

function merge(current: Message[], incoming: Message[]): Message[] {
  const byId = new Map(current.map((m) => [m._id, m]));
  incoming.forEach((m) => byId.set(m._id, m));
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}

export function Thread({ conversationId, me, socket, header, readOnlyReason = null, timeline = [], compose }: Props) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [reads, setReads] = useState<Record<string, number>>({});
  const [typing, setTyping] = useState<Record<string, string>>({});
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const lastSeq = useRef(0);
  const lastTypingSent = useRef(0);
  const idleTimer = useRef<number | undefined>(undefined);
  const typingTimers = useRef<Record<string, number>>({});
  const bottom = useRef<HTMLDivElement>(null);
  const uploads = useUploads(conversationId);
  const composer = useRef<HTMLTextAreaElement>(null);
  const keyHook = useRef<KeyHook | null>(null);
  const privateSend = compose?.send;

  const add = useCallback((incoming: Message[]) => {
    if (incoming.length === 0) return;
    lastSeq.current = Math.max(lastSeq.current, ...incoming.map((m) => m.seq));
    setMessages((current) => merge(current, incoming));
    setReads((current) => {
      const next = { ...current };
      for (const m of incoming)
        for (const reader of m.readBy ?? [])
          if (reader !== me.id) next[reader] = Math.max(next[reader] ?? 0, m.seq);
      return next;
    });
  }, [me.id]);

  const markRead = useCallback(() => {
    if (lastSeq.current > 0 && document.visibilityState === "visible")
      socket.emit("markRead", { conversationId, seq: lastSeq.current });
  }, [socket, conversationId]);

  // What arrived while the socket was away: every message after the last one we have.
  const catchUp = useCallback(async () => {
    for (;;) {
      const page = await api<Message[]>(
        "GET",
        `/conversations/${conversationId}/messages?after_seq=${lastSeq.current}&limit=${CATCH_UP_PAGE}`,
      );
      add(page);
      if (page.length < CATCH_UP_PAGE) break;
    }
    markRead();
  }, [conversationId, add, markRead]);

  useEffect(() => {
    let cancelled = false;
    lastSeq.current = 0;
    setMessages([]);
    setReads({});
    setTyping({});
    setError(null);
    setLoading(true);
    api<Message[]>("GET", `/conversations/${conversationId}/messages?limit=${PAGE}`)
      .then((page) => {
        if (cancelled) return;
        add(page);
        markRead();
      })
      .catch((e: unknown) => !cancelled && setError(describe(e)))
      .finally(() => !cancelled && setLoading(false));
    socket.emit("joinConversation", conversationId);
    const rejoin = () => {
      socket.emit("joinConversation", conversationId);
      catchUp().catch((e: unknown) => setError(describe(e)));
    };
    socket.on("connect", rejoin);
    return () => {
      cancelled = true;
      socket.off("connect", rejoin);
      socket.emit("leaveConversation", conversationId);
    };
  }, [conversationId, socket, add, markRead, catchUp]);

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" });
  }, [messages.length, timeline.length]);

  useSocketEvent<Message>(
    socket,
    "newMessage",
    useCallback(
      (message) => {
        if (message.conversation !== conversationId) return;
        add([message]);
        if (message.sender._id !== me.id) {
          stopShowingTyping(message.sender._id);
          markRead();
        }
      },
      [conversationId, me.id, add, markRead],
    ),
  );

  useSocketEvent<ReadPayload>(
    socket,
    "messageRead",
    useCallback(
      (read) => {
        if (read.conversationId !== conversationId || read.userId === me.id) return;
        setReads((current) => ({ ...current, [read.userId]: Math.max(current[read.userId] ?? 0, read.seq) }));
      },
      [conversationId, me.id],
    ),
  );

  function stopShowingTyping(userId: string) {
    window.clearTimeout(typingTimers.current[userId]);
    setTyping(({ [userId]: _gone, ...rest }) => rest);
  }

  useSocketEvent<TypingPayload>(
    socket,
    "typing",
    useCallback(
      (payload) => {
        if (payload.conversationId !== conversationId || payload.user._id === me.id) return;
        setTyping((current) => ({ ...current, [payload.user._id]: payload.user.email }));
        window.clearTimeout(typingTimers.current[payload.user._id]);
        typingTimers.current[payload.user._id] = window.setTimeout(
          () => stopShowingTyping(payload.user._id),
          TYPING_SHOWN_MS,
        );
      },
      [conversationId, me.id],
    ),
  );

  useSocketEvent<TypingPayload>(
    socket,
    "stopTyping",
    useCallback(
      (payload) => {
        if (payload.conversationId === conversationId) stopShowingTyping(payload.user._id);
      },
      [conversationId],
    ),
  );

  function typed(value: string) {
    setText(value);
    if (privateSend) return; // a note: the customer hears nothing of it
    const now = Date.now();
    if (now - lastTypingSent.current > TYPING_EVERY_MS) {
      lastTypingSent.current = now;
      socket.emit("typing", { conversationId });
    }
    window.clearTimeout(idleTimer.current);
    idleTimer.current = window.setTimeout(() => stopTyping(), TYPING_IDLE_MS);
  }

  function stopTyping() {
    window.clearTimeout(idleTimer.current);
    if (lastTypingSent.current) socket.emit("stopTyping", { conversationId });
    lastTypingSent.current = 0;
  }

  async function send() {
    const body = text.trim();
    // A private note is text only: files wait for the next message.
    const files = privateSend ? [] : uploads.pending;
    if ((!body && files.length === 0) || (files.length > 0 && uploads.uploading > 0)) return;
    const attachments = files.length ? { attachments: files.map((a) => a._id) } : {};
    const clientMessageId = messageId();
    setText("");
    if (files.length) uploads.clear();
    stopTyping();
    setError(null);
    if (privateSend) {
      await privateSend(body).catch((e: unknown) => {
        setText(body);
        setError(describe(e));
      });
      return;
    }
    try {
      const stored = await new Promise<Message>((resolve, reject) => {
        if (!socket.connected) {
          reject(new Error("offline"));
          return;
        }
        socket
          .timeout(ACK_TIMEOUT_MS)
          .emit(
            "sendMessage",
            { conversationId, text: body, clientMessageId, ...attachments },
            (err: Error | null, ack: Message | { error: string }) => {
              if (err) reject(err);
              else if ("error" in ack) reject(new ApiError(400, ack.error));
              else resolve(ack);
            },
          );
      }).catch((e: unknown) => {
        if (e instanceof ApiError) throw e;
        // No answer over the socket: the same send over HTTP (the clientMessageId makes it
        // count once if the first one got through after all).
        return api<Message>("POST", `/conversations/${conversationId}/messages`, {
          text: body,
          clientMessageId,
          ...attachments,
        });
      });
      add([stored]);
    } catch (e) {
      setText(body);
      uploads.restore(files);
      setError(describe(e));
    }
  }

  const readUpTo = Math.max(0, ...Object.values(reads));
  const typists = Object.values(typing);

  return (
    <Stack gap="xs" h="100%" data-testid="thread">
      {header}
      <ScrollArea style={{ flex: 1 }} mih={240} type="auto">
        <Stack gap={6} p="xs" aria-live="polite">
          {loading && <Text c="dimmed">Loading messages…</Text>}
          {!loading && messages.length === 0 && <Text c="dimmed">No messages yet.</Text>}
          {interleave(messages, timeline).map((row) => {
            if (!("seq" in row)) return <Fragment key={row.key}>{row.node}</Fragment>;
            const m = row;
            const mine = m.sender._id === me.id;
            const read = mine && readUpTo >= m.seq;
            return (
              <Group key={m._id} justify={mine ? "flex-end" : "flex-start"}>
                <Paper
                  data-testid="message"
                  data-seq={m.seq}
                  data-mine={mine}
                  data-read={read}
                  shadow="xs"
                  px="sm"
                  py={6}
                  radius="md"
                  maw="80%"
                  bg={mine ? "blue.1" : "gray.0"}
                >
                  {!mine && (
                    <Text size="xs" c="dimmed" style={{ wordBreak: "break-all" }}>
                      {m.sender.email}
                    </Text>
                  )}
                  {m.text && <Text style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>{m.text}</Text>}
                  <AttachmentView attachments={m.attachments} />
                  <Group gap={4} justify="flex-end">
                    <Text size="xs" c="dimmed">
                      {new Date(m.createdAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
                    </Text>
                    {mine && (
                      <Text size="xs" c={read ? "blue" : "dimmed"} aria-label={read ? "Read" : "Sent"} data-testid="tick">
                        {read ? "✓✓" : "✓"}
                      </Text>
                    )}
                  </Group>
                </Paper>
              </Group>
            );
          })}
          <div ref={bottom} />
        </Stack>
      </ScrollArea>
      <Box mih={20}>
        {typists.length > 0 && (
          <Text size="sm" c="dimmed" data-testid="typing">
            {typists.join(", ")} {typists.length === 1 ? "is" : "are"} typing…
          </Text>
        )}
      </Box>
      {error && (
        <Alert color="red" withCloseButton onClose={() => setError(null)} role="alert">
          {error}
        </Alert>
      )}
      {compose?.extras?.({ text, setText, focus: () => composer.current?.focus(), keys: keyHook })}
      {readOnlyReason && !privateSend ? (
        <Text c="dimmed" size="sm">
          {readOnlyReason}
        </Text>
      ) : (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void send();
          }}
        >
          {!privateSend && <PendingUploads uploads={uploads} />}
          <Group align="flex-end" gap="xs" wrap="nowrap">
            {!privateSend && <AttachButton uploads={uploads} />}
            <Textarea
              style={{ flex: 1 }}
              ref={composer}
              aria-label="Message"
              placeholder={compose?.placeholder ?? "Write a message…"}
              styles={compose?.background ? { input: { background: compose.background } } : undefined}
              autosize
              minRows={1}
              maxRows={5}
              value={text}
              onChange={(event) => typed(event.currentTarget.value)}
              // A pasted screenshot or a file dropped on the composer is attached (not in a note).
              onPaste={(event) => !privateSend && uploads.take(event, event.clipboardData)}
              onDrop={(event) => !privateSend && uploads.take(event, event.dataTransfer)}
              onKeyDown={(event) => {
                if (keyHook.current?.(event)) return;
                if (event.key === "Enter" && !event.shiftKey) {
                  event.preventDefault();
                  void send();
                }
              }}
            />
            <Button type="submit" disabled={privateSend ? !text.trim() : (!text.trim() && uploads.pending.length === 0) || uploads.uploading > 0}>
              Send
            </Button>
          </Group>
        </form>
      )}
    </Stack>
  );
}

export function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}
