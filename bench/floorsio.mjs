// Socket driver of `bench/floorcost.py socketio`: pairs of socket.io-client sockets (websocket
// only, no compression) against a bare python-socketio server; each message is a `sendMessage`
// from one side of a pair, answered by a `newMessage` to the other side and an ack.
// With "fanout": that many sockets in one room of the server and one more socket that triggers
// each message, by a `publish` event per message ("trigger": "socket") or by asking the server
// once to publish on a timer of its own ("trigger": "timer"); the server emits every message to
// the room, so each message is `fanout` deliveries.
//
//   node bench/floorsio.mjs '{"url": ..., "pairs": 10, "steps": [{"name", "rate"|"window"|"idle", "seconds"}]}'
//   node bench/floorsio.mjs '{"url": ..., "fanout": 100, "steps": [{"name", "rate", "seconds", "trigger"}]}'
//
// Prints one JSON line per mark: {"mark": "start", "step"} just before a step's first message
// (floorcost.py reads the server's CPU then) and {"mark": "end", "step", "sent", "delivered",
// "acked", "seconds", "clientCpuS"} once every message of the step is delivered (and acked), or
// 5 s after the last one was due; "clientCpuS" is this process's CPU time over the step, and in
// fan-out "deliveringS" the time from the step's start to its last delivery. Every loop is
// bounded in count and time; the server is on loopback.
import { io } from "socket.io-client";

const config = JSON.parse(process.argv[2]);
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(config.url)) throw new Error("loopback servers only");
const DRAIN_MS = 5_000;
const MAX_MESSAGES = 200_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();
const mark = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);

function connect(user, room = false) {
  const socket = io(config.url, {
    transports: ["websocket"],
    perMessageDeflate: false,
    auth: { user, room },
    reconnection: false,
    timeout: 10_000,
  });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

const cpuSeconds = (since) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};

if (config.fanout) await fanout();

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
  const cpu = process.cpuUsage();
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
  mark({
    mark: "end",
    step: step.name,
    sent,
    delivered,
    acked,
    seconds: (now() - started) / 1000,
    clientCpuS: cpuSeconds(cpu),
  });
}
for (const pair of pairs) for (const socket of pair) socket.close();
process.exit(0);

async function fanout() {
  const members = [];
  // Connected a few at a time: the server's accept loop is what is measured later, not here.
  for (let i = 0; i < config.fanout; i += 10) {
    const batch = Array.from({ length: Math.min(10, config.fanout - i) }, (_, k) => `f${i + k}`);
    members.push(...(await Promise.all(batch.map((user) => connect(user, true)))));
  }
  const trigger = await connect("trigger");
  let delivered = 0;
  let lastDelivery = 0;
  // A delivery is counted and nothing else: the floor of a receiving socket.io-client.
  const count = () => {
    delivered++;
    lastDelivery = now();
  };
  for (const socket of members) socket.on("newMessage", count);
  for (const step of config.steps) {
    await sleep(1000);
    delivered = 0;
    let sent = 0;
    mark({ mark: "start", step: step.name });
    const cpu = process.cpuUsage();
    const started = now();
    const until = started + step.seconds * 1000;
    if (step.trigger === "timer") {
      sent = Math.min(MAX_MESSAGES, Math.round(step.rate * step.seconds));
      trigger.emit("publishEvery", { rate: step.rate, count: sent });
      await sleep(step.seconds * 1000);
    } else {
      // Open loop: message k is due at k / rate whatever became of the earlier ones.
      while (now() < until && sent < MAX_MESSAGES) {
        const due = started + (sent * 1000) / step.rate;
        if (due > now()) await sleep(due - now());
        trigger.emit("publish", { seq: sent });
        sent++;
      }
    }
    const expected = sent * members.length;
    const drainUntil = now() + DRAIN_MS;
    while (delivered < expected && now() < drainUntil) await sleep(5);
    mark({
      mark: "end",
      step: step.name,
      sent,
      delivered,
      expected,
      seconds: (now() - started) / 1000,
      deliveringS: (lastDelivery - started) / 1000,
      clientCpuS: cpuSeconds(cpu),
    });
  }
  for (const socket of [...members, trigger]) socket.close();
  process.exit(0);
}
