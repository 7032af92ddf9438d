// Socket driver of `bench/floorcost.py socketio`: pairs of socket.io-client sockets (websocket
// only, no compression) against a bare python-socketio server; each message is a `sendMessage`
// from one side of a pair, answered by a `newMessage` to the other side and an ack.
//
//   node bench/floorsio.mjs '{"url": ..., "pairs": 10, "steps": [{"name", "rate"|"window"|"idle", "seconds"}]}'
//
// Prints one JSON line per mark: {"mark": "start", "step"} just before a step's first message
// (floorcost.py reads the server's CPU then) and {"mark": "end", "step", "sent", "delivered",
// "acked", "seconds"} once every message of the step is delivered and acked, or 5 s after the
// last one was sent. Every loop is bounded in count and time; the server is on loopback.
import { io } from "socket.io-client";

const config = JSON.parse(process.argv[2]);
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(config.url)) throw new Error("loopback servers only");
const DRAIN_MS = 5_000;
const MAX_MESSAGES = 200_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();
const mark = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);

function connect(user) {
  const socket = io(config.url, {
    transports: ["websocket"],
    perMessageDeflate: false,
    auth: { user },
    reconnection: false,
    timeout: 10_000,
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

const pairs = [];
for (let i = 0; i < config.pairs; i++) {
  pairs.push([await connect(`a${i}`), await connect(`b${i}`)]);
}
let delivered = 0;
for (const pair of pairs) for (const socket of pair) socket.on("newMessage", () => delivered++);

for (const step of config.steps) {
  await sleep(1000);
  delivered = 0;
  let sent = 0;
  let acked = 0;
  const send = () => {
    const pair = pairs[sent % pairs.length];
    const side = Math.floor(sent / pairs.length) % 2;
    sent++;
    return new Promise((resolve) => {
      pair[side].emit(
        "sendMessage",
        {
          conversationId: `c${sent % pairs.length}`,
          to: side ? pair[0].auth.user : pair[1].auth.user,
          text: "hello ".repeat(25),
          clientMessageId: `m${sent}`.padEnd(36, "0"),
        },
        () => {
          acked++;
          resolve();
        },
      );
    });
  };
  mark({ mark: "start", step: step.name });
  const started = now();
  const until = started + step.seconds * 1000;
  if (step.idle) {
    // Sockets connected and nothing sent: what the server spends per second on its own.
    await sleep(step.seconds * 1000);
  } else if (step.rate) {
    // Open loop: message k is due at k / rate whatever became of the earlier ones.
    while (now() < until && sent < MAX_MESSAGES) {
      const due = started + (sent * 1000) / step.rate;
      if (due > now()) await sleep(due - now());
      send();
    }
  } else {
    // Closed loop: `window` messages in flight, each ack sending the next.
    const lane = async () => {
      while (now() < until && sent < MAX_MESSAGES) await send();
    };
    await Promise.all(Array.from({ length: step.window }, lane));
  }
  const drainUntil = now() + DRAIN_MS;
  while ((delivered < sent || acked < sent) && now() < drainUntil) await sleep(5);
  mark({ mark: "end", step: step.name, sent, delivered, acked, seconds: (now() - started) / 1000 });
}
for (const pair of pairs) for (const socket of pair) socket.close();
process.exit(0);
