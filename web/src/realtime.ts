// One Socket.IO connection per signed-in session, through the gateway (`/socket.io`). The token
// is read (refreshed first if it is about to expire) at every (re)connect.
import { useEffect, useState } from "react";
import { io, type Socket } from "socket.io-client";
import { freshToken, refresh } from "./api";

const SOCKET_URL = import.meta.env.VITE_SOCKET_URL || window.location.origin;

export function connect(): Socket {
  const socket = io(SOCKET_URL, {
    path: "/socket.io",
    auth: (cb) => void freshToken().then((token) => cb({ token })),
    reconnectionDelayMax: 5_000,
  });
  socket.on("connect_error", (error) => {
    // A refused token (expired, a rotated key): refresh it and connect again with the new one.
    // Socket.IO does not retry by itself after the server refused the handshake.
    if (!error.message.startsWith("Authentication error")) return;
    void refresh().then((renewed) => {
      if (renewed && !socket.connected) socket.connect();
    });
  });
  return socket;
}

/** Whether the socket is connected, re-rendered on every change. */
export function useConnected(socket: Socket): boolean {
  const [connected, setConnected] = useState(socket.connected);
  useEffect(() => {
    const up = () => setConnected(true);
    const down = () => setConnected(false);
    socket.on("connect", up);
    socket.on("disconnect", down);
    setConnected(socket.connected);
    return () => {
      socket.off("connect", up);
      socket.off("disconnect", down);
    };
  }, [socket]);
  return connected;
}

/** Subscribes `handler` to `event` for the component's lifetime. */
export function useSocketEvent<T>(socket: Socket, event: string, handler: (payload: T) => void) {
  useEffect(() => {
    socket.on(event, handler);
    return () => {
      socket.off(event, handler);
    };
  }, [socket, event, handler]);
}

/** Who of one's contacts is online: `onlineUsers` (at connect and whenever it changes) and
 * `presence` events, as the realtime service scopes them (people who share a conversation). */
export function useOnline(socket: Socket): ReadonlySet<string> {
  const [online, setOnline] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => {
    const list = (users: { _id: string }[]) => setOnline(new Set(users.map((u) => u._id)));
    const one = ({ userId, online: isOnline }: { userId: string; online: boolean }) =>
      setOnline((current) => {
        const next = new Set(current);
        if (isOnline) next.add(userId);
        else next.delete(userId);
        return next;
      });
    socket.on("onlineUsers", list);
    socket.on("presence", one);
    return () => {
      socket.off("onlineUsers", list);
      socket.off("presence", one);
    };
  }, [socket]);
  return online;
}
