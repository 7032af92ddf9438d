// What the original Workcity frontend does, in the order it does it, from a browser page:
// signup, login, an admin creating an agent, a conversation, both sides' sockets joining and
// typing at once (no waiting for acks), messages both ways, history. The result (or the first
// failure) goes to window.__result for the test to read.
import { io } from "/assets/socket.io.esm.min.js";
import { API_BASE_URL, SOCKET_URL, ADMIN } from "/assets/config.js";

const TIMEOUT_MS = 15000;
const status = document.getElementById("status");

async function api(method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${API_BASE_URL}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(data)}`);
  return data;
}

function connect(token) {
  const socket = io(SOCKET_URL, { auth: { token } });
  // Listened for before the connection opens: it is sent right after the handshake.
  socket.firstOnlineUsers = next(socket, "onlineUsers");
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => reject(new Error(`connect_error: ${error.message}`)));
  });
}

function next(socket, event, where = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    const handler = (data) => {
      if (!where(data)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(data);
    };
    socket.on(event, handler);
  });
}

async function run() {
  const suffix = Math.random().toString(16).slice(2);
  const customerEmail = `browser-customer-${suffix}@workcity.example`;
  const agentEmail = `browser-agent-${suffix}@workcity.example`;
  const result = {};

  const signup = await api("POST", "/auth/signup", { email: customerEmail, password: "secret-123" });
  result.signupMsg = signup.msg;
  const admin = await api("POST", "/auth/login", ADMIN);
  const created = await api(
    "POST",
    "/auth/admin/create-user",
    { email: agentEmail, password: "secret-123", role: "agent" },
    admin.token,
  );
  result.createUserMsg = created.msg;
  const customer = await api("POST", "/auth/login", { email: customerEmail, password: "secret-123" });
  const agent = await api("POST", "/auth/login", { email: agentEmail, password: "secret-123" });

  const support = await api("GET", "/users/support", undefined, customer.token);
  const agentEntry = support.find((u) => u.email === agentEmail);
  const conversation = await api(
    "POST",
    "/conversations/create",
    { recipientId: agentEntry._id },
    customer.token,
  );
  const cid = conversation._id;

  const customerSocket = await connect(customer.token);
  const agentSocket = await connect(agent.token);
  result.customerOnline = (await customerSocket.firstOnlineUsers).map((u) => u.email);

  // The agent has the chat open; the customer opens it, joining and typing at once, as the
  // original's chat page does (no waiting for the join's ack).
  await agentSocket.timeout(TIMEOUT_MS).emitWithAck("joinConversation", cid);
  const agentSeesTyping = next(agentSocket, "typing", (t) => t.conversationId === cid);
  customerSocket.emit("joinConversation", cid);
  customerSocket.emit("typing", { conversationId: cid });
  result.typing = (await agentSeesTyping).user.email;

  const agentGets = next(agentSocket, "newMessage", (m) => m.text === "hello from the shop");
  const ack = await customerSocket
    .timeout(TIMEOUT_MS)
    .emitWithAck("sendMessage", { conversationId: cid, text: "hello from the shop" });
  result.sentSeq = ack.seq;
  result.agentGot = (await agentGets).sender.email;

  const customerGets = next(customerSocket, "newMessage", (m) => m.text === "how can I help?");
  agentSocket.emit("sendMessage", { conversationId: cid, text: "how can I help?" });
  result.customerGot = (await customerGets).sender.email;

  const history = await api("GET", `/messages/${cid}`, undefined, customer.token);
  result.history = history.map((m) => m.text);
  customerSocket.disconnect();
  agentSocket.disconnect();
  return result;
}

run().then(
  (result) => {
    window.__result = { ok: true, ...result };
    status.textContent = "done";
    status.dataset.finished = "true";
  },
  (error) => {
    window.__result = { ok: false, error: String(error.message || error) };
    status.textContent = `failed: ${error.message}`;
    status.dataset.finished = "true";
  },
);
