// The JSON shapes of ../shared/CONTRACT.md that the app reads (answers may carry more fields).

export type Role = "customer" | "agent" | "designer" | "merchant" | "admin";

export interface User {
  id: string;
  email: string;
  role: Role;
}

export interface PersonRef {
  _id: string;
  email: string;
  role?: string;
}

export type Status = "open" | "pending" | "snoozed" | "resolved";

export type Priority = "low" | "medium" | "high" | "urgent";
export const PRIORITIES: readonly Priority[] = ["low", "medium", "high", "urgent"];

export interface Message {
  _id: string;
  conversation: string;
  sender: PersonRef;
  text: string;
  seq: number;
  readBy: string[];
  attachments?: Attachment[];
  createdAt: string;
}

export interface Attachment {
  _id: string;
  filename: string;
  contentType: string;
  size: number;
}

/** A satisfaction request: asked when staff resolve, answered once by the customer. */
export interface Csat {
  requestedAt: string | null;
  rating: number | null;
  comment: string | null;
  ratedAt: string | null;
}

export interface Conversation {
  _id: string;
  participants: PersonRef[];
  lastMessage: Message | null;
  unreadCount?: number;
  status?: Status;
  assignee?: PersonRef | null;
  team?: { _id: string; name: string } | null;
  subject?: string | null;
  orderId?: string | null;
  snoozedUntil?: string | null;
  waitingSince?: string | null;
  csat?: Csat | null;
  priority?: Priority | null;
  labels?: string[];
  updatedAt?: string;
  /** The desk's change counter (staff view): a later change has a higher one. */
  version?: number;
}

export interface Team {
  _id: string;
  name: string;
  isDefault: boolean;
}

/** A team as staff see it (`GET /api/teams`). */
export interface TeamDetail extends Team {
  autoAssign: boolean;
  capacity: number;
  members: string[];
}

export type InboxView = "mine" | "unassigned" | "team";

export interface Inbox {
  items: Conversation[];
  nextCursor: string | null;
  counts: Record<InboxView, number>;
}

export type Availability = "available" | "busy" | "offline";

export interface Agent {
  _id: string;
  email: string;
  availability: Availability;
  online: boolean;
  openAssigned: number;
  role?: Role;
  /** The agent's own capacity, overriding their teams'; null: the team's. */
  capacity?: number | null;
  teams?: string[];
}

/** An account as admins see it (`GET /api/auth/all-users`). */
export interface Account {
  _id: string;
  email: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

export const STAFF_ROLES: readonly Role[] = ["agent", "designer", "merchant", "admin"];

/** A private note: staff only, never a message (CONTRACT Part 3). */
export interface Note {
  _id: string;
  conversation: string;
  author: PersonRef;
  text: string;
  createdAt: string;
}

/** One desk change of a conversation, with the line a client shows for it. */
export interface Activity {
  _id: string;
  type: "status" | "assignee" | "team" | "priority" | "labels" | "csat";
  actor: PersonRef | null;
  at: string;
  text: string;
}

export interface CannedResponse {
  _id: string;
  shortCode: string;
  text: string;
  scope: "personal" | "team" | "global";
  teamId: string | null;
  authorId: string;
}
