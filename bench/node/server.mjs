// The lean Node reference of `make bench-cost` (issue 24): Express with Mongoose (lean reads,
// plain objects, no document hydration), node-redis and jsonwebtoken, making the reads our read
// routes make: the token verified (HS256, issuer, audience), its revocation asked in Redis and
// the user read at the same time, then each route's queries, answered with res.json. None of
// our layers (validation, response models, metrics, request ids).
//
// Run: MONGODB_URI=... REDIS_URL=... JWT_SECRET=... node bench/node/server.mjs PORT
import express from "express";
import jwt from "jsonwebtoken";
import mongoose from "mongoose";
import { createClient } from "redis";

const port = Number(process.argv[2]);
const secret = process.env.JWT_SECRET;
const issuer = process.env.JWT_ISSUER || "talent-quotient";
const audience = process.env.JWT_AUDIENCE || "talent-quotient-api";

const loose = (collection) => new mongoose.Schema({}, { strict: false, collection });
const Session = mongoose.model("Session", loose("sessions"));
const User = mongoose.model("User", loose("users"));
const Message = mongoose.model("Message", loose("chat_messages"));
const CARD = { name: 1, role: 1, streamId: 1, avatar: 1, email: 1 };
const NEWEST = { createdAt: -1, _id: -1 };

await mongoose.connect(process.env.MONGODB_URI);
const redis = createClient({ url: process.env.REDIS_URL });
await redis.connect();

const app = express();
app.disable("x-powered-by");
app.disable("etag");

const signedIn = (handler) => async (req, res) => {
  try {
    const header = req.headers.authorization || "";
    const claims = jwt.verify(header.slice(7), secret, {
      algorithms: ["HS256"],
      issuer,
      audience,
    });
    const [revoked, user] = await Promise.all([
      redis.exists(`auth:revoked:${claims.jti}`),
      User.findById(claims.sub).lean(),
    ]);
    if (revoked || !user) return res.status(401).json({ error: "unauthorized" });
    await handler(req, res, user);
  } catch (error) {
    res.status(error instanceof jwt.JsonWebTokenError ? 401 : 500).json({ error: String(error) });
  }
};

const usersOf = (sessions) => {
  const ids = [...new Set(sessions.flatMap((s) => (s.members || []).map(String)))];
  return User.find({ _id: { $in: ids } }, CARD).lean();
};

app.get("/api/health", (req, res) => res.json({ status: "ok", version: "node" }));

app.get(
  "/api/auth/me",
  signedIn(async (req, res, user) => {
    delete user.password;
    res.json({ user });
  }),
);

app.get(
  "/api/sessions",
  signedIn(async (req, res, user) => {
    const filter = { members: user._id };
    const limit = Math.min(Number(req.query.limit) || 20, 100);
    const [total, sessions] = await Promise.all([
      Session.countDocuments(filter),
      Session.find(filter).sort(NEWEST).limit(limit).lean(),
    ]);
    res.json({ sessions, users: await usersOf(sessions), total });
  }),
);

app.get(
  "/api/sessions/active",
  signedIn(async (req, res) => {
    const sessions = await Session.find({ status: "active" }).sort(NEWEST).limit(20).lean();
    res.json({ sessions, users: await usersOf(sessions) });
  }),
);

app.get(
  "/api/sessions/:id",
  signedIn(async (req, res) => {
    const session = await Session.findById(req.params.id).lean();
    if (!session) return res.status(404).json({ error: "session_not_found" });
    res.json({ session, users: await usersOf([session]) });
  }),
);

app.get(
  "/api/chat/history/:id",
  signedIn(async (req, res, user) => {
    const member = await Session.findOne({ _id: req.params.id, members: user._id }, { status: 1 })
      .lean();
    if (!member) return res.status(404).json({ error: "session_not_found" });
    const messages = await Message.find({ sessionId: member._id }).sort(NEWEST).limit(51).lean();
    res.json({ messages: messages.slice(0, 50).reverse() });
  }),
);

app.listen(port, "127.0.0.1");
