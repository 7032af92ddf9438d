// The JavaScript socket.io-client (what real frontends use) against the realtime service.
//
// Input: the JSON in REALTIME_CHECK: {gatewayUrl, replicaUrls: [url1, url2], conversationId,
//   customer: {id, email, token}, agent: {id, email, token}}.
// Output: one JSON line with what was observed; exit code 1 with {failed} on the first failure.
// Run by tests/e2e/test_realtime_js.py; every wait is bounded.
import { io } from "socket.io-client";

const config = JSON.parse(process.env.REALTIME_CHECK);
const TIMEOUT_MS = 10_000;
const sockets = [];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

function connect(url, token, options = {}) {
  const socket = io(url, {
    auth: token === undefined ? undefined : { token },
    transports: ["websocket"],
    reconnection: false,
    timeout: TIMEOUT_MS,
    ...options,
  });
  sockets.push(socket);
  return socket;
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timed out")), TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("connect_error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function connectError(socket) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connect_error")), TIMEOUT_MS);
    socket.once("connect", () => reject(new Error("connected with a bad token")));
    socket.once("connect_error", (error) => {
      clearTimeout(timer);
      resolve(error);
    });
  });
}

function next(socket, event, where = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${event} within ${TIMEOUT_MS} ms`)),
      TIMEOUT_MS,
    );
    const listener = (data) => {
      if (!where(data)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(data);
    };
    socket.on(event, listener);
  });
}

function record(socket, event) {
  const seen = [];
  socket.on(event, (data) => seen.push(data));
  return seen;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const result = {};
  const cid = config.conversationId;

  // A bad token and no token: connect_error whose message starts with "Authentication error".
  for (const [name, token] of [["bad", "not-a-token"], ["none", undefined]]) {
    const error = await connectError(connect(config.gatewayUrl, token));
    check(
      error.message.startsWith("Authentication error"),
      `${name} token: connect_error message was ${JSON.stringify(error.message)}`,
    );
    result[`${name}TokenError`] = error.message;
  }

  // The customer through the gateway; the agent on each replica, so one of the agent's sockets
  // is on a replica other than the customer's.
  const customer = connect(config.gatewayUrl, config.customer.token);
  const agents = config.replicaUrls.map((url) => connect(url, config.agent.token));
  await Promise.all([customer, ...agents].map(connected));

  // The original frontend emits the bare id without an ack; the ack form answers {ok}.
  customer.emit("joinConversation", cid);
  for (const agent of agents) {
    const joined = await agent.timeout(TIMEOUT_MS).emitWithAck("joinConversation", cid);
    check(joined.ok === true, `join: ${JSON.stringify(joined)}`);
  }
  const refused = await customer
    .timeout(TIMEOUT_MS)
    .emitWithAck("joinConversation", "0123456789abcdef01234567");
  check(typeof refused.error === "string", `unknown conversation joined: ${JSON.stringify(refused)}`);
  // Give the ack-less join a moment: nothing tells the original frontend when it is done.
  await sleep(300);

  // Send with an ack; every socket in the room gets newMessage, the sender's included.
  const typingSeen = agents.map((agent) => next(agent, "userTyping"));
  customer.emit("typing", { conversationId: cid });
  const typing = await Promise.all(typingSeen);
  for (const payload of typing) {
    check(payload.user._id === config.customer.id, `typing: ${JSON.stringify(payload)}`);
    check(payload.conversationId === cid, `typing: ${JSON.stringify(payload)}`);
  }
  const stopSeen = agents.map((agent) => next(agent, "stopTyping"));
  customer.emit("stopTyping", { conversationId: cid });
  await Promise.all(stopSeen);

  const arrivals = [customer, ...agents].map((s) => next(s, "newMessage"));
  const message = await customer
    .timeout(TIMEOUT_MS)
    .emitWithAck("sendMessage", { conversationId: cid, text: "hello from socket.io-client" });
  check(message.text === "hello from socket.io-client", `ack: ${JSON.stringify(message)}`);
  check(message.sender._id === config.customer.id, `sender: ${JSON.stringify(message.sender)}`);
  const received = await Promise.all(arrivals);
  for (const got of received) {
    check(got._id === message._id && got.seq === message.seq, `newMessage: ${JSON.stringify(got)}`);
  }
  result.message = { _id: message._id, seq: message.seq };

  // Errors come back in the ack; the socket stays connected.
  const empty = await customer
    .timeout(TIMEOUT_MS)
    .emitWithAck("sendMessage", { conversationId: cid, text: "" });
  check(typeof empty.error === "string", `empty text: ${JSON.stringify(empty)}`);
  const wrongType = await customer.timeout(TIMEOUT_MS).emitWithAck("sendMessage", "oops");
  check(typeof wrongType.error === "string", `string payload: ${JSON.stringify(wrongType)}`);
  check(customer.connected, "customer disconnected after bad payloads");

  // Read receipt from the agent reaches the customer.
  const receiptSeen = next(customer, "messageRead", (r) => r.userId === config.agent.id);
  const read = await agents[0]
    .timeout(TIMEOUT_MS)
    .emitWithAck("markRead", { conversationId: cid, seq: message.seq });
  check(read.seq === message.seq, `markRead ack: ${JSON.stringify(read)}`);
  const receipt = await receiptSeen;
  check(receipt.seq === message.seq && receipt.conversationId === cid, JSON.stringify(receipt));

  // Catch-up: an agent socket goes away, two messages are sent, a new socket syncs.
  const lastSeen = message.seq;
  agents[1].disconnect();
  const missed = [];
  for (const text of ["while away 1", "while away 2"]) {
    missed.push(
      await customer.timeout(TIMEOUT_MS).emitWithAck("sendMessage", { conversationId: cid, text }),
    );
  }
  const back = connect(config.replicaUrls[1], config.agent.token);
  const online = record(back, "onlineUsers");
  await connected(back);
  const page = await back
    .timeout(TIMEOUT_MS)
    .emitWithAck("sync", { conversationId: cid, afterSeq: lastSeen });
  check(
    JSON.stringify(page.messages.map((m) => m._id)) === JSON.stringify(missed.map((m) => m._id)),
    `sync: ${JSON.stringify(page)}`,
  );
  result.caughtUp = page.messages.map((m) => m.seq);

  // onlineUsers came at connect, scoped to contacts: the agent sees the customer.
  const deadline = Date.now() + TIMEOUT_MS;
  while (!online.some((list) => list.some((u) => u._id === config.customer.id))) {
    check(Date.now() < deadline, `onlineUsers: ${JSON.stringify(online)}`);
    await sleep(50);
  }
  result.onlineUsersAfterReconnect = online.at(-1);
  return result;
}

main()
  .then((result) => {
    console.log(JSON.stringify({ ok: true, ...result }));
  })
  .catch((error) => {
    console.log(JSON.stringify({ ok: false, failed: error.message }));
    process.exitCode = 1;
  })
  .finally(() => {
    for (const socket of sockets) socket.disconnect();
  });
