// Load generator of the Workcity Chat benchmark: real socket.io-client sockets (and plain HTTP
// for the REST scenario) against the gateway. Driven by bench/run.py, which prepares users and
// conversations, samples the stack's CPU at the marks this process prints, and computes the
// statistics.
//
//   node bench/load.mjs <config.json>
//
// Output (stdout), one JSON object per line:
//   {"type": "mark", "mark": "start" | "sample" | "end", "step": name}  (run.py samples /proc)
//   {"type": "result", ...}                                            (last line)
// Progress goes to stderr. Every loop is bounded in count and in time; every address is on the
// loopback interface.
import fs from "node:fs";
import http from "node:http";
import { io } from "socket.io-client";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const RUN_DEADLINE = Date.now() + (config.maxRuntimeS ?? 900) * 1000;
const CONNECT_TIMEOUT_MS = config.connectTimeoutMs ?? 20_000;
const ACK_TIMEOUT_MS = config.ackTimeoutMs ?? 10_000;
// A message not seen by its recipient this long after it was sent counts as lost.
const LOST_AFTER_MS = config.lostAfterMs ?? 5_000;

const now = () => performance.now();
// Latencies travel to run.py as JSON: a hundredth of a millisecond is plenty.
const r2 = (ms) => Math.round(ms * 100) / 100;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) => process.stderr.write(`[load] ${line}\n`);
const emit = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);
const mark = (name, step, extra = {}) => emit({ type: "mark", mark: name, step, ...extra });

// run.py answers an "end" mark with one line on stdin once the stack has gone quiet: "go" (next
// step) or "stop" (no further steps: the last one was past saturation).
const replies = [];
let replyWaiter = null;
let stdinBuffer = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  stdinBuffer += chunk;
  let newline;
  while ((newline = stdinBuffer.indexOf("\n")) >= 0) {
    replies.push(stdinBuffer.slice(0, newline).trim());
    stdinBuffer = stdinBuffer.slice(newline + 1);
  }
  if (replyWaiter && replies.length) replyWaiter();
});

// run.py answers a "start" mark once it has sampled the stack, so its sampling (the database's
// serverStatus and top, every service's /metrics) is not part of the step: it used to run while
// the step's first messages were in flight and made the first second's latencies (seen at
// 50/s: 100-190 ms against 13-60 later).
async function startStep(step) {
  mark("start", step);
  if (config.controlled) await reply();
}

async function endStep(step, summary) {
  mark("end", step, summary);
  if (!config.controlled) return "go";
  return reply();
}

async function reply() {
  const deadline = now() + 180_000;
  while (!replies.length && now() < deadline) {
    await new Promise((resolve) => {
      replyWaiter = resolve;
      setTimeout(resolve, 1000);
    });
    replyWaiter = null;
  }
  return replies.shift() ?? "go";
}

function p99(samples) {
  if (!samples.length) return null;
  const ordered = Float64Array.from(samples).sort();
  return ordered[Math.max(1, Math.ceil(0.99 * ordered.length)) - 1];
}

// The `count` largest latencies with the time each message was sent, slowest first.
function slowest(latencies, sentOffsets, count) {
  return latencies
    .map((ms, i) => ({ ms, atMs: sentOffsets[i] }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, count);
}

// Median and largest latency of the messages sent in each second of the step.
function perSecond(latencies, sentOffsets) {
  const buckets = [];
  latencies.forEach((ms, i) => {
    const s = Math.floor(sentOffsets[i] / 1000);
    (buckets[s] ??= []).push(ms);
  });
  return buckets.map((b, s) => {
    const ordered = Float64Array.from(b ?? []).sort();
    return { s, n: ordered.length, p50: ordered[Math.floor(ordered.length / 2)] ?? null, max: ordered.at(-1) ?? null };
  });
}

function checkDeadline() {
  if (Date.now() > RUN_DEADLINE) throw new Error("run deadline passed");
}

function requireLoopback(address) {
  if (!/^127\.\d+\.\d+\.\d+$/.test(address)) throw new Error(`not a loopback address: ${address}`);
  return address;
}

const gateway = new URL(config.gatewayUrl);
if (!["127.0.0.1", "localhost"].includes(gateway.hostname)) {
  throw new Error(`the benchmark only drives a stack on 127.0.0.1, not ${gateway.hostname}`);
}

// ------------------------------------------------------------------------------ sockets

// Spread sockets over source addresses: nginx used to pin a client address to one replica (it
// now spreads new sockets by least connections, so the address no longer decides: bench/README).
// `replica` picks an address the probe found on that replica (0 or 1); without a probe,
// addresses are used round-robin.
const addressesByReplica = config.addresses ?? { any: ["127.0.0.1"] };
const addressCursor = {};
function sourceAddress(replica) {
  const key = replica in addressesByReplica ? String(replica) : Object.keys(addressesByReplica)[0];
  const list = addressesByReplica[key];
  addressCursor[key] = ((addressCursor[key] ?? -1) + 1) % list.length;
  return { address: requireLoopback(list[addressCursor[key]]), replica: key };
}

function openSocket(token, localAddress, url = config.gatewayUrl) {
  return io(url, {
    path: "/socket.io",
    // The normal transport; long-polling would only add its upgrade dance to every connect.
    transports: ["websocket"],
    auth: { token },
    reconnection: false,
    forceNew: true,
    timeout: CONNECT_TIMEOUT_MS,
    localAddress,
    // Browsers offer permessage-deflate, and so does this client unless told not to
    // (--no-deflate): then the server never compresses.
    perMessageDeflate: config.deflate === false ? false : { threshold: 1024 },
  });
}

function whenConnected(socket, timeoutMs = CONNECT_TIMEOUT_MS) {
  return new Promise((resolve) => {
    const started = now();
    const timer = setTimeout(() => finish({ ok: false, error: "timeout" }), timeoutMs);
    function finish(outcome) {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
      resolve({ ...outcome, ms: now() - started });
    }
    function onConnect() {
      finish({ ok: true });
    }
    function onError(error) {
      finish({ ok: false, error: String(error?.message ?? error).slice(0, 120) });
    }
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

function ack(socket, event, payload, timeoutMs = ACK_TIMEOUT_MS) {
  return new Promise((resolve) => {
    socket.timeout(timeoutMs).emit(event, payload, (error, answer) => {
      resolve(error ? { timeout: true } : answer);
    });
  });
}

async function closeAll(sockets) {
  for (const socket of sockets) socket.disconnect();
  await sleep(200);
}

async function connectMany(specs, concurrency) {
  // specs: [{token, replica}] -> [{socket, outcome, replica, address}], at most `concurrency`
  // handshakes in flight.
  const results = new Array(specs.length);
  let next = 0;
  async function worker() {
    while (next < specs.length) {
      checkDeadline();
      const index = next++;
      const { address, replica } = sourceAddress(specs[index].replica);
      const socket = openSocket(specs[index].token, address);
      const outcome = await whenConnected(socket);
      results[index] = { socket, outcome, replica, address };
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, worker));
  return results;
}

// ------------------------------------------------------------------------------ probe

function establishedTo(ports) {
  // Connections nginx holds to each replica, from /proc/net/tcp (local and remote are both on
  // the loopback interface). A websocket through the gateway is one of them while it is open.
  const counts = Object.fromEntries(ports.map((p) => [p, 0]));
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4 || fields[3] !== "01") continue;
      const port = parseInt(fields[2].split(":")[1], 16);
      if (port in counts) counts[port] += 1;
    }
  }
  return counts;
}

async function probe() {
  // Which replica does the gateway send each source address to? One socket per address, kept
  // open until the end, and the replica whose connection count went up is the answer.
  const ports = config.replicaPorts;
  const byReplica = {};
  const sockets = [];
  const failures = [];
  for (const address of config.candidates.map(requireLoopback)) {
    checkDeadline();
    const before = establishedTo(ports);
    const socket = openSocket(config.token, address);
    sockets.push(socket);
    const outcome = await whenConnected(socket);
    if (!outcome.ok) {
      failures.push({ address, error: outcome.error });
      continue;
    }
    let replica = null;
    for (let attempt = 0; attempt < 20 && replica === null; attempt++) {
      const after = establishedTo(ports);
      const grew = ports.filter((p) => after[p] > before[p]);
      if (grew.length === 1) replica = ports.indexOf(grew[0]);
      else await sleep(10);
    }
    if (replica !== null) (byReplica[replica] ??= []).push(address);
    else failures.push({ address, error: "replica not identified" });
  }
  await closeAll(sockets);
  return { addresses: byReplica, failures };
}

// ------------------------------------------------------------------------------ messages

// Message texts carry the run tag and the message's number: "<tag>:<k>:<padding>".
function messageText(tag, k, size) {
  const head = `${tag}:${k}:`;
  return head + "x".repeat(Math.max(0, size - head.length));
}

function messageNumber(tag, text) {
  if (typeof text !== "string" || !text.startsWith(tag)) return -1;
  const end = text.indexOf(":", tag.length + 1);
  return end < 0 ? -1 : Number.parseInt(text.slice(tag.length + 1, end), 10);
}

class Counter {
  constructor() {
    this.counts = {};
  }
  add(key, n = 1) {
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }
}

// Open loop: message k of a step is due at start + k / rate, whatever happened to the earlier
// ones; the loop sends everything due on each tick. `send(k)` must not wait for anything.
// What every message step records, fanout or not: the step, what the open loop sent and its
// own lag, the acks, and the socket events the clients received during the step.
function stepRecord(step, loop, c) {
  const receivedDelta = {};
  for (const [key, value] of Object.entries(c.received.counts)) {
    receivedDelta[key] = value - (c.receivedBefore[key] ?? 0);
  }
  return {
    name: step.name,
    offeredRate: step.rate,
    durationS: step.durationS,
    sent: loop.sent,
    sendElapsedMs: loop.elapsedMs,
    generatorMaxLagMs: loop.maxLagMs,
    windowDeliveries: c.windowCount,
    spanMs: c.spanMs,
    ackOk: c.ackOk,
    ackRefused: c.ackRefused,
    ackTimeout: c.ackTimeout,
    refusals: c.refusals.counts,
    received: receivedDelta,
  };
}

async function openLoop(rate, durationS, send) {
  const total = Math.round(rate * durationS);
  const start = now();
  let k = 0;
  let maxLagMs = 0;
  while (k < total) {
    checkDeadline();
    const elapsed = now() - start;
    while (k < total && (k * 1000) / rate <= elapsed) {
      maxLagMs = Math.max(maxLagMs, elapsed - (k * 1000) / rate);
      send(k);
      k += 1;
    }
    if (k < total) {
      const wait = (k * 1000) / rate - (now() - start);
      await sleep(Math.max(1, Math.min(wait, 20)));
    }
  }
  return { sent: k, elapsedMs: now() - start, maxLagMs };
}

// Wait until `count()` has not changed for `quietMs` (the generator has read what its sockets hold),
// at most `timeoutMs`.
async function waitUntilStill(count, quietMs, timeoutMs) {
  const end = now() + timeoutMs;
  let last = count();
  let since = now();
  while (now() < end) {
    checkDeadline();
    await sleep(100);
    const current = count();
    if (current !== last) {
      last = current;
      since = now();
    } else if (now() - since >= quietMs) {
      return;
    }
  }
}

async function waitUntil(done, timeoutMs) {
  const end = now() + timeoutMs;
  while (!done() && now() < end) {
    checkDeadline();
    await sleep(20);
  }
  return done();
}

async function messagesScenario() {
  // latency and throughput: a customer and an agent socket per conversation, both joined,
  // sending in turns, open loop at each step's total rate.
  const tag = `b${config.runTag}`;
  const conversations = config.conversations;
  const participants = [];
  conversations.forEach((c, index) => {
    // Half of the pairs have both sockets on one replica, half across the two.
    participants.push({ conv: index, side: 0, token: c.customer.token, replica: index % 2 });
    participants.push({
      conv: index,
      side: 1,
      token: c.agent.token,
      replica: Math.floor(index / 2) % 2,
    });
  });
  const connected = await connectMany(participants, 64);
  const failedConnects = connected.filter((r) => !r.outcome.ok);
  if (failedConnects.length) {
    throw new Error(`${failedConnects.length} sockets failed to connect: ${failedConnects[0].outcome.error}`);
  }
  const sockets = connected.map((r) => r.socket);
  const replicaOf = connected.map((r) => r.replica);
  const joins = await Promise.all(
    sockets.map((s, i) => ack(s, "joinConversation", conversations[participants[i].conv].id)),
  );
  const badJoin = joins.find((j) => !j || j.error || j.timeout);
  if (badJoin) throw new Error(`joinConversation failed: ${JSON.stringify(badJoin)}`);

  const capacity = config.steps.reduce((n, s) => n + Math.round(s.rate * s.durationS), 0) + 4 * conversations.length;
  const sentAt = new Float64Array(capacity);
  const ackAt = new Float64Array(capacity);
  const deliveredAt = new Float64Array(capacity);
  const convOf = new Int32Array(capacity);
  const sideOf = new Int8Array(capacity);
  const ackState = new Int8Array(capacity); // 0 waiting, 1 ok, 2 refused, 3 timeout
  const duplicates = { count: 0 };
  const outOfOrder = { count: 0 };
  const received = new Counter();
  const lastSeq = new Map(); // socket index -> last seq seen in its conversation
  let windowDeliveries = 0;
  let allDeliveries = 0;
  let disconnects = 0;
  let closing = false;
  let windowOpen = false;

  sockets.forEach((socket, i) => {
    const me = participants[i];
    socket.on("newMessage", (message) => {
      const t = now();
      received.add("newMessage");
      const k = messageNumber(tag, message?.text);
      if (k < 0 || k >= capacity) return;
      const previous = lastSeq.get(i) ?? 0;
      if (message.seq <= previous) outOfOrder.count += 1;
      else lastSeq.set(i, message.seq);
      if (sideOf[k] === me.side) return; // the sender's own copy
      if (deliveredAt[k] !== 0) {
        duplicates.count += 1;
        return;
      }
      deliveredAt[k] = t;
      allDeliveries += 1;
      if (windowOpen) windowDeliveries += 1;
    });
    socket.on("disconnect", () => {
      if (!closing) disconnects += 1; // the server (or the network) ended it
    });
    for (const event of ["messageNotification", "messageRead", "presence", "onlineUsers"]) {
      socket.on(event, () => received.add(event));
    }
  });

  let nextK = 0;
  let refusals = new Counter();
  const turn = new Int32Array(conversations.length);
  function sendOne(conv) {
    const k = nextK++;
    const side = turn[conv]++ % 2; // customer, agent, customer, ...
    const socketIndex = conv * 2 + side;
    convOf[k] = conv;
    sideOf[k] = side;
    sentAt[k] = now();
    sockets[socketIndex]
      .timeout(ACK_TIMEOUT_MS)
      .emit(
        "sendMessage",
        { conversationId: conversations[conv].id, text: messageText(tag, k, config.textBytes ?? 64) },
        (error, answer) => {
          ackAt[k] = now();
          if (error) ackState[k] = 3;
          else if (answer && answer.error) {
            ackState[k] = 2;
            refusals.add(answer.code ?? "error");
          } else ackState[k] = 1;
        },
      );
    return k;
  }

  // Warm-up (not measured): one message from each side of every conversation.
  const warm = [];
  for (let c = 0; c < conversations.length; c++) warm.push(sendOne(c), sendOne(c));
  const warmed = await waitUntil(() => warm.every((k) => deliveredAt[k] !== 0), 15_000);
  if (!warmed) log("warm-up: some messages were not delivered within 15 s");
  await sleep(500);

  const steps = [];
  for (const step of config.steps) {
    refusals = new Counter();
    const firstK = nextK;
    const receivedBefore = { ...received.counts };
    windowDeliveries = 0;
    await startStep(step.name);
    const stepStart = now();
    windowOpen = true;
    let conv = 0;
    const loop = await openLoop(step.rate, step.durationS, () => {
      sendOne(conv);
      conv = (conv + 1) % conversations.length;
    });
    windowOpen = false;
    const windowCount = windowDeliveries;
    const lastK = nextK;
    const drainStart = now();
    // Wait for every message to be answered and delivered, or to be LOST_AFTER_MS old.
    await waitUntil(() => {
      const t = now();
      for (let k = firstK; k < lastK; k++) {
        const settled = ackState[k] === 2 || ackState[k] === 3 || deliveredAt[k] !== 0;
        if (!settled && t - sentAt[k] < Math.max(LOST_AFTER_MS, ACK_TIMEOUT_MS)) return false;
        if (ackState[k] === 0 && t - sentAt[k] < ACK_TIMEOUT_MS) return false;
      }
      return true;
    }, Math.max(LOST_AFTER_MS, ACK_TIMEOUT_MS) + 2_000);
    const drainMs = now() - drainStart;

    const recipient = [];
    const sentOffsets = []; // ms after the step's start, beside each recipient latency
    const acks = [];
    let delivered = 0;
    let deliveredLate = 0;
    let lost = 0;
    let ackOk = 0;
    let ackRefused = 0;
    let ackTimeout = 0;
    let refusedButDelivered = 0;
    let lastDelivery = stepStart;
    for (let k = firstK; k < lastK; k++) {
      if (ackState[k] === 1) {
        ackOk += 1;
        acks.push(r2(ackAt[k] - sentAt[k]));
      } else if (ackState[k] === 2) ackRefused += 1;
      else ackTimeout += 1;
      if (deliveredAt[k] !== 0) {
        const ms = deliveredAt[k] - sentAt[k];
        if (ms <= LOST_AFTER_MS) {
          delivered += 1;
          recipient.push(r2(ms));
          sentOffsets.push(r2(sentAt[k] - stepStart));
          lastDelivery = Math.max(lastDelivery, deliveredAt[k]);
        } else {
          deliveredLate += 1;
          lost += 1;
        }
        if (ackState[k] === 2) refusedButDelivered += 1;
      } else if (ackState[k] !== 2) {
        lost += 1; // stored (or unanswered) and never delivered
      }
    }
    steps.push({
      ...stepRecord(step, loop, {
        windowCount,
        spanMs: lastDelivery - stepStart,
        ackOk,
        ackRefused,
        ackTimeout,
        refusals,
        received,
        receivedBefore,
      }),
      delivered,
      deliveredLate,
      lost,
      refusedButDelivered,
      drainMs,
      recipientMs: recipient,
      // The slowest 2 % with when they were sent: stalls that recur on a period point at a
      // background task (a poll, a sweep, a batch) holding up the path.
      slowest: slowest(recipient, sentOffsets, Math.max(10, Math.ceil(recipient.length / 50))),
      perSecond: perSecond(recipient, sentOffsets),
      ackMs: acks,
    });
    log(
      `${step.name}: sent ${loop.sent}, delivered ${delivered}, lost ${lost}, refused ${ackRefused}, window ${windowCount}`,
    );
    const reply = await endStep(step.name, {
      offered: step.rate,
      delivered,
      spanMs: lastDelivery - stepStart,
      durationS: step.durationS,
      p99: p99(recipient),
    });
    // run.py answered once the stack's backlog was done: what reached its recipient by now,
    // however late, was not dropped (once this process has read what its sockets hold).
    await waitUntilStill(() => allDeliveries, 2_000, 30_000);
    let eventually = 0;
    for (let k = firstK; k < lastK; k++) if (deliveredAt[k] !== 0) eventually += 1;
    steps.at(-1).eventuallyDelivered = eventually;
    steps.at(-1).storedOrUnanswered = lastK - firstK - ackRefused;
    if (reply === "stop") break;
    await sleep(config.pauseMs ?? 1000);
  }
  closing = true;
  await closeAll(sockets);
  const perReplica = {};
  for (const r of replicaOf) perReplica[r] = (perReplica[r] ?? 0) + 1;
  let crossPairs = 0;
  for (let c = 0; c < conversations.length; c++) {
    if (replicaOf[2 * c] !== replicaOf[2 * c + 1]) crossPairs += 1;
  }
  return {
    sockets: sockets.length,
    disconnects,
    socketsPerReplica: perReplica,
    crossReplicaConversations: crossPairs,
    duplicates: duplicates.count,
    outOfOrder: outOfOrder.count,
    steps,
  };
}

// ------------------------------------------------------------------------------ fan-out

async function fanoutScenario() {
  // Many sockets of the conversation's two participants, all in its room; messages from all of
  // them in turn. Every socket, the sender's included, gets every message as `newMessage`.
  const tag = `f${config.runTag}`;
  const c = config.conversation;
  const specs = Array.from({ length: config.sockets }, (_, i) => ({
    token: i % 2 === 0 ? c.customer.token : c.agent.token,
    replica: Math.floor(i / 2) % 2,
  }));
  const connected = await connectMany(specs, 64);
  const failed = connected.filter((r) => !r.outcome.ok);
  if (failed.length) throw new Error(`${failed.length} fan-out sockets failed: ${failed[0].outcome.error}`);
  const sockets = connected.map((r) => r.socket);
  const joins = await Promise.all(sockets.map((s) => ack(s, "joinConversation", c.id)));
  const badJoin = joins.find((j) => !j || j.error || j.timeout);
  if (badJoin) throw new Error(`joinConversation failed: ${JSON.stringify(badJoin)}`);

  const capacity = config.steps.reduce((n, s) => n + Math.round(s.rate * s.durationS), 0) + 64;
  const sentAt = new Float64Array(capacity);
  const deliveries = new Uint16Array(capacity);
  const ackState = new Int8Array(capacity);
  const received = new Counter();
  const lastSeq = new Int32Array(sockets.length);
  let outOfOrder = 0;
  let latencies = [];
  let windowOpen = false;
  let windowDeliveries = 0;
  let stepFirstK = 0;
  let lastDelivery = 0;
  let allDeliveries = 0;
  let disconnects = 0;
  let closing = false;

  sockets.forEach((socket, i) => {
    socket.on("newMessage", (message) => {
      const t = now();
      const k = messageNumber(tag, message?.text);
      if (k < 0 || k >= capacity) return;
      if (message.seq <= lastSeq[i]) outOfOrder += 1;
      else lastSeq[i] = message.seq;
      deliveries[k] += 1;
      allDeliveries += 1;
      if (windowOpen) windowDeliveries += 1;
      if (k >= stepFirstK && sentAt[k] > 0) {
        const ms = t - sentAt[k];
        latencies.push(r2(ms));
        if (ms <= LOST_AFTER_MS) lastDelivery = t;
      }
    });
    for (const event of ["messageNotification", "messageRead", "presence", "onlineUsers"]) {
      socket.on(event, () => received.add(event));
    }
    socket.on("disconnect", () => {
      if (!closing) disconnects += 1; // the server (or the network) ended it
    });
  });

  let nextK = 0;
  let sender = 0;
  let refusals = new Counter();
  function sendOne() {
    const k = nextK++;
    const socket = sockets[sender];
    sender = (sender + 1) % sockets.length;
    sentAt[k] = now();
    socket.timeout(ACK_TIMEOUT_MS).emit(
      "sendMessage",
      { conversationId: c.id, text: messageText(tag, k, config.textBytes ?? 64) },
      (error, answer) => {
        if (error) ackState[k] = 3;
        else if (answer && answer.error) {
          ackState[k] = 2;
          refusals.add(answer.code ?? "error");
        } else ackState[k] = 1;
      },
    );
    return k;
  }

  const warm = [sendOne(), sendOne()];
  await waitUntil(() => warm.every((k) => deliveries[k] >= sockets.length), 15_000);
  await sleep(500);

  const steps = [];
  for (const step of config.steps) {
    refusals = new Counter();
    latencies = [];
    stepFirstK = nextK;
    const firstK = nextK;
    const receivedBefore = { ...received.counts };
    windowDeliveries = 0;
    await startStep(step.name);
    const stepStart = now();
    lastDelivery = stepStart;
    windowOpen = true;
    const loop = await openLoop(step.rate, step.durationS, () => sendOne());
    windowOpen = false;
    const windowCount = windowDeliveries;
    const lastK = nextK;
    await waitUntil(() => {
      const t = now();
      for (let k = firstK; k < lastK; k++) {
        if (ackState[k] === 2 || ackState[k] === 3) continue;
        if (deliveries[k] < sockets.length && t - sentAt[k] < Math.max(LOST_AFTER_MS, ACK_TIMEOUT_MS)) return false;
      }
      return true;
    }, Math.max(LOST_AFTER_MS, ACK_TIMEOUT_MS) + 2_000);
    let expected = 0;
    let got = 0;
    let ackOk = 0;
    let ackRefused = 0;
    let ackTimeout = 0;
    for (let k = firstK; k < lastK; k++) {
      if (ackState[k] === 1) ackOk += 1;
      else if (ackState[k] === 2) ackRefused += 1;
      else ackTimeout += 1;
      if (ackState[k] !== 2) {
        expected += sockets.length;
        got += Math.min(deliveries[k], sockets.length);
      }
    }
    const late = latencies.filter((ms) => ms > LOST_AFTER_MS).length;
    steps.push({
      ...stepRecord(step, loop, {
        windowCount,
        spanMs: lastDelivery - stepStart,
        ackOk,
        ackRefused,
        ackTimeout,
        refusals,
        received,
        receivedBefore,
      }),
      expectedDeliveries: expected,
      deliveries: got,
      lostDeliveries: expected - got + late,
      deliveryMs: latencies.filter((ms) => ms <= LOST_AFTER_MS),
    });
    log(`${step.name}: sent ${loop.sent}, deliveries ${got}/${expected}, window ${windowCount}`);
    const reply = await endStep(step.name, {
      offered: step.rate * sockets.length,
      delivered: got,
      spanMs: lastDelivery - stepStart,
      durationS: step.durationS,
      p99: p99(latencies.filter((ms) => ms <= LOST_AFTER_MS)),
    });
    await waitUntilStill(() => allDeliveries, 2_000, 30_000);
    let eventually = 0;
    for (let k = firstK; k < lastK; k++) {
      if (ackState[k] !== 2) eventually += Math.min(deliveries[k], sockets.length);
    }
    steps.at(-1).eventualDeliveries = eventually;
    if (reply === "stop") break;
    await sleep(config.pauseMs ?? 1000);
  }
  closing = true;
  await closeAll(sockets);
  return { sockets: sockets.length, disconnects, outOfOrder, steps };
}

// ------------------------------------------------------------------------------ connections

async function connectionsScenario() {
  // Authenticated idle sockets, opened with at most `concurrency` handshakes in flight, each level
  // within `timeBoundS`; run.py reads the realtime processes' memory at the "sample" mark.
  const users = config.users;
  const levels = [];
  for (const level of config.levels) {
    checkDeadline();
    const name = `connections-${level}`;
    await startStep(name);
    const started = now();
    const bound = started + config.timeBoundS * 1000;
    const sockets = [];
    const outcomes = [];
    const received = new Counter();
    let bytes = 0;
    let next = 0;
    async function worker() {
      while (next < level && now() < bound) {
        checkDeadline();
        const index = next++;
        const user = users[index % users.length];
        const { address, replica } = sourceAddress(index % 2);
        const socket = openSocket(user.token, address);
        sockets.push(socket);
        socket.on("onlineUsers", () => received.add("onlineUsers"));
        socket.on("presence", () => received.add("presence"));
        socket.io.on("open", () => {
          socket.io.engine.on("data", (data) => {
            bytes += typeof data === "string" ? data.length : data.byteLength ?? 0;
          });
        });
        const outcome = await whenConnected(socket, Math.max(1, Math.min(CONNECT_TIMEOUT_MS, bound - now())));
        outcomes.push({ ...outcome, replica });
      }
    }
    await Promise.all(Array.from({ length: Math.min(config.concurrency, level) }, worker));
    const openMs = now() - started;
    await sleep(config.holdS * 1000);
    const stillConnected = sockets.filter((s) => s.connected).length;
    mark("sample", name, { connected: stillConnected });
    const errors = new Counter();
    for (const o of outcomes) if (!o.ok) errors.add(o.error);
    const perReplica = {};
    for (const o of outcomes) if (o.ok) perReplica[o.replica] = (perReplica[o.replica] ?? 0) + 1;
    await closeAll(sockets);
    await sleep(config.settleS * 1000);
    mark("end", name);
    levels.push({
      name,
      asked: level,
      attempted: outcomes.length,
      connected: outcomes.filter((o) => o.ok).length,
      connectedAfterHold: stillConnected,
      failed: outcomes.filter((o) => !o.ok).length,
      notAttempted: level - outcomes.length,
      errors: errors.counts,
      openMs,
      connectMs: outcomes.filter((o) => o.ok).map((o) => r2(o.ms)),
      perReplica,
      received: received.counts,
      receivedChars: bytes,
    });
    log(`${name}: ${levels.at(-1).connected}/${level} connected in ${Math.round(openMs)} ms`);
  }
  return { levels };
}

// ------------------------------------------------------------------------------ rest

async function restScenario() {
  // Closed loop: `concurrency` clients, each sending its next request when the last is answered,
  // for `durationS`. Requests rotate over source addresses (the login rate limit is per address).
  const addresses = Object.values(addressesByReplica).flat().map(requireLoopback);
  const agents = addresses.map(
    (localAddress) => new http.Agent({ keepAlive: true, maxSockets: config.concurrency, localAddress }),
  );
  const steps = [];
  for (const step of config.steps) {
    checkDeadline();
    const latencies = [];
    const statuses = new Counter();
    let bytes = 0;
    let n = 0;
    await startStep(step.name);
    const started = now();
    const end = started + step.durationS * 1000;
    async function client() {
      while (now() < end) {
        checkDeadline();
        const i = n++;
        const request = step.kind === "login" ? loginRequest(i) : historyRequest(i);
        const t0 = now();
        const answer = await send(agents[i % agents.length], request);
        latencies.push(r2(now() - t0));
        statuses.add(answer.status);
        bytes += answer.bytes;
      }
    }
    await Promise.all(Array.from({ length: config.concurrency }, client));
    const elapsedMs = now() - started;
    mark("end", step.name);
    steps.push({
      name: step.name,
      kind: step.kind,
      concurrency: config.concurrency,
      durationS: step.durationS,
      elapsedMs,
      requests: latencies.length,
      statuses: statuses.counts,
      ok: statuses.counts[200] ?? 0,
      meanAnswerBytes: latencies.length ? bytes / latencies.length : 0,
      latencyMs: latencies,
    });
    log(`${step.name}: ${latencies.length} requests in ${Math.round(elapsedMs)} ms`);
  }
  for (const agent of agents) agent.destroy();
  return { steps };
}

function loginRequest(i) {
  const user = config.logins[i % config.logins.length];
  return {
    method: "POST",
    path: "/api/auth/login",
    body: JSON.stringify({ email: user.email, password: user.password }),
  };
}

function historyRequest(i) {
  const reader = config.readers[i % config.readers.length];
  return {
    method: "GET",
    path: `/api/conversations/${reader.conversationId}/messages`,
    token: reader.token,
  };
}

function send(agent, request) {
  return new Promise((resolve) => {
    const headers = { Accept: "application/json" };
    if (request.body) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = Buffer.byteLength(request.body);
    }
    if (request.token) headers.Authorization = `Bearer ${request.token}`;
    const req = http.request(
      {
        host: gateway.hostname,
        port: gateway.port || 80,
        method: request.method,
        path: request.path,
        headers,
        agent,
        timeout: 30_000,
      },
      (res) => {
        let bytes = 0;
        res.on("data", (chunk) => {
          bytes += chunk.length;
        });
        res.on("end", () => resolve({ status: res.statusCode, bytes }));
        res.on("error", () => resolve({ status: "error", bytes }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error) => resolve({ status: error.message === "timeout" ? "timeout" : "error", bytes: 0 }));
    if (request.body) req.write(request.body);
    req.end();
  });
}

// ------------------------------------------------------------------------------ main

const SCENARIOS = {
  probe,
  messages: messagesScenario,
  fanout: fanoutScenario,
  connections: connectionsScenario,
  rest: restScenario,
};

async function main() {
  const run = SCENARIOS[config.scenario];
  if (!run) throw new Error(`unknown scenario ${config.scenario}`);
  const result = await run();
  return { type: "result", scenario: config.scenario, result };
}

// Exit only once the last line has left: process.exit() drops what a pipe has not taken yet, and
// the result line of a big run is megabytes long.
function finish(object, code) {
  process.stdout.write(`${JSON.stringify(object)}\n`, () => process.exit(code));
}

main().then(
  (result) => finish(result, 0),
  (error) => finish({ type: "error", error: String(error?.stack ?? error) }, 1),
);
