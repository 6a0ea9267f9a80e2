import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import {
  DeliveryStatus,
  NotificationsServiceClient,
  SubscriptionState,
  type Delivery,
  type Subscription,
} from "#gen/rag/v1/notifications.js";
import { expectInvalid, rejection, tenantClients } from "#testing/grpc.js";
import { startTestPostgres, type TestPostgres } from "#testing/postgres.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { EgressRefusedError } from "#mesh/egress.js";
import { postOnce } from "./post.js";

/** One request the receiver got. */
interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const MAX_ATTEMPTS = 3;
const DISABLE_AFTER = 4;

let pg: TestPostgres;
let service: ServiceProcess;
let receiver: http.Server;
let base: string;
let serviceEnv: Record<string, string>;
/** Requests the receiver holds without answering, as a receiver that hangs would. */
const hanging: http.ServerResponse[] = [];
const clients = tenantClients(NotificationsServiceClient, "notifications", () => service.address);
const as = clients.as;

/** Per path: what it answers (default 204; 0 means never) and who waits for its next requests. */
const answers = new Map<string, (n: number) => number>();
const got = new Map<string, Received[]>();
const waiters: { path: string; count: number; resolve: (r: Received[]) => void }[] = [];

function requestsTo(path: string, count: number): Promise<Received[]> {
  const seen = got.get(path) ?? [];
  if (seen.length >= count) return Promise.resolve(seen);
  return new Promise((resolve) => waiters.push({ path, count, resolve }));
}

before(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const list = got.get(path) ?? [];
      list.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      got.set(path, list);
      const code = answers.get(path)?.(list.length) ?? 204;
      if (code === 0) hanging.push(res);
      else res.writeHead(code, { "content-type": "text/plain" }).end(code >= 300 ? "receiver says no" : "");
      for (const w of waiters.filter((w) => w.path === path && list.length >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(list);
      }
    });
  });
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  pg = await startTestPostgres();
  serviceEnv = {
    DATABASE_URL: await pg.createDatabase("notifications"),
    NOTIFICATIONS_ALLOW_PRIVATE: "true",
    NOTIFICATIONS_RETRY_BASE_MS: "5",
    NOTIFICATIONS_RETRY_MAX_MS: "20",
    NOTIFICATIONS_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    NOTIFICATIONS_DISABLE_AFTER_FAILURES: String(DISABLE_AFTER),
    NOTIFICATIONS_POLL_MS: "50",
    NOTIFICATIONS_TIMEOUT_MS: "5000",
  };
  service = await startServiceProcess("notifications", serviceEnv);
});

after(async () => {
  clients.closeAll();
  hanging.forEach((res) => res.destroy());
  receiver?.close();
  const code = await service?.stop().finally(() => pg?.stop());
  assert.equal(code, 0, "notifications exits cleanly on SIGTERM");
});

const tenant = () => `t-${randomUUID().slice(0, 8)}`;

/** The result of `read` once `done` holds; the service records an attempt just after the receiver answers. */
async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < 250; i++) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${what} did not happen; last seen: ${JSON.stringify(last)}`);
}

async function deliveries(tenantId: string, subscriptionId: string): Promise<Delivery[]> {
  return (await as(tenantId).listDeliveries({ subscriptionId, pageSize: 100, pageToken: "", status: DeliveryStatus.DELIVERY_STATUS_UNSPECIFIED })).deliveries;
}

async function subscribe(tenantId: string, path: string, eventTypes: string[] = [], secret = ""): Promise<{ subscription: Subscription; secret: string }> {
  const res = await as(tenantId).subscribe({ url: `${base}${path}`, eventTypes, secret, description: `test ${path}` });
  assert.ok(res.subscription);
  return { subscription: res.subscription, secret: res.secret };
}

const publish = (tenantId: string, eventType: string, payload: Record<string, unknown> = {}, eventId = "") =>
  as(tenantId).publish({ eventType, payload, eventId, occurTime: undefined });

/** A receiver's check, as the README describes it. */
function verify(secret: string, r: Received): boolean {
  const id = String(r.headers["webhook-id"]);
  const ts = String(r.headers["webhook-timestamp"]);
  const expected = createHmac("sha256", secret).update(`${id}.${ts}.${r.body}`).digest();
  return String(r.headers["webhook-signature"])
    .split(" ")
    .some((s) => s.startsWith("v1,") && timingSafeEqual(Buffer.from(s.slice(3), "base64"), expected) === true);
}

describe("notifications over gRPC with a real webhook receiver", () => {
  test("a published event arrives signed with the secret Subscribe returned, and the log shows it", async () => {
    const t = tenant();
    const { subscription, secret } = await subscribe(t, "/signed");
    assert.ok(secret.length >= 32, "a secret is generated");
    assert.equal(subscription.secretHint, secret.slice(-4));
    assert.equal(subscription.state, SubscriptionState.SUBSCRIPTION_STATE_ACTIVE);
    assert.equal(subscription.tenantId, t);

    const payload = { document_id: "d1", collection: "default", created: true, chunks_indexed: 3 };
    const pub = await publish(t, "document.ingested", payload, "evt-1");
    assert.deepEqual(pub, { eventId: "evt-1", subscriptionCount: 1 });

    const [r] = await requestsTo("/signed", 1);
    assert.ok(r);
    assert.equal(r.headers["content-type"], "application/json");
    assert.match(String(r.headers["user-agent"]), /RagMesh-Webhooks/);
    assert.ok(verify(secret, r), "signature verifies with the subscription secret");
    assert.equal(verify("some-other-secret-value", r), false);
    assert.ok(Math.abs(Number(r.headers["webhook-timestamp"]) - Date.now() / 1000) < 300, "timestamp is now (Unix seconds)");
    const body = JSON.parse(r.body);
    assert.equal(body.id, "evt-1");
    assert.equal(body.type, "document.ingested");
    assert.equal(body.tenant, t);
    assert.ok(!Number.isNaN(Date.parse(body.created)));
    assert.deepEqual(body.data, payload);

    const log = await eventually(() => deliveries(t, subscription.subscriptionId), (d) => d.length === 1, "the attempt being logged");
    assert.equal(log[0]!.status, DeliveryStatus.DELIVERY_STATUS_SUCCEEDED);
    assert.equal(log[0]!.httpStatus, 204);
    assert.equal(log[0]!.attempt, 1);
    assert.equal(log[0]!.eventId, "evt-1");
    assert.equal(log[0]!.deliveryId, r.headers["webhook-id"]);

    const again = await publish(t, "document.ingested", payload, "evt-1");
    assert.equal(again.subscriptionCount, 0, "the same event id is queued only once");
  });

  test("a receiver that fails first gets the event on a retry; the log shows both attempts", async () => {
    const t = tenant();
    answers.set("/flaky", (n) => (n === 1 ? 500 : 200));
    const { subscription, secret } = await subscribe(t, "/flaky");
    await publish(t, "ingestion.job.finished", { job_id: "j1" });
    const [first, second] = await requestsTo("/flaky", 2);
    assert.equal(first!.headers["webhook-id"], second!.headers["webhook-id"], "retries share the delivery id");
    assert.equal(first!.body, second!.body);
    assert.ok(verify(secret, second!));

    const log = await eventually(() => deliveries(t, subscription.subscriptionId), (d) => d.length === 2, "both attempts being logged");
    const [latest, earliest] = log;
    assert.equal(earliest!.attempt, 1);
    assert.equal(earliest!.status, DeliveryStatus.DELIVERY_STATUS_RETRYING);
    assert.equal(earliest!.httpStatus, 500);
    assert.match(earliest!.error, /HTTP 500: receiver says no/);
    assert.ok(earliest!.nextAttemptTime instanceof Date);
    assert.equal(latest!.attempt, 2);
    assert.equal(latest!.status, DeliveryStatus.DELIVERY_STATUS_SUCCEEDED);
    assert.equal(latest!.httpStatus, 200);

    const retrying = await as(t).listDeliveries({ subscriptionId: subscription.subscriptionId, pageSize: 0, pageToken: "", status: DeliveryStatus.DELIVERY_STATUS_RETRYING });
    assert.deepEqual(retrying.deliveries.map((d) => d.attempt), [1], "the status filter");
    const { subscription: after } = await as(t).getSubscription({ subscriptionId: subscription.subscriptionId });
    assert.equal(after!.consecutiveFailures, 0, "a success resets the failure count");
  });

  test("a receiver that always fails gets the subscription disabled with a reason; EnableSubscription turns it back on", async () => {
    const t = tenant();
    answers.set("/down", () => 500);
    const { subscription } = await subscribe(t, "/down");
    const id = subscription.subscriptionId;
    await publish(t, "document.deleted", { document_id: "a" });
    await requestsTo("/down", MAX_ATTEMPTS);
    const gaveUp = await eventually(() => deliveries(t, id), (d) => d.length === MAX_ATTEMPTS, "the first event's attempts being logged");
    assert.equal(gaveUp[0]!.status, DeliveryStatus.DELIVERY_STATUS_FAILED, "the last attempt gives up");

    await publish(t, "document.deleted", { document_id: "b" });
    const disabled = await eventually(
      async () => (await as(t).getSubscription({ subscriptionId: id })).subscription!,
      (s) => s.state === SubscriptionState.SUBSCRIPTION_STATE_DISABLED,
      "the subscription being disabled",
    );
    assert.match(disabled.disabledReason, new RegExp(`${DISABLE_AFTER} consecutive failed attempts; last error: HTTP 500`));
    assert.equal(disabled.consecutiveFailures, DISABLE_AFTER);
    const listed = await as(t).listSubscriptions({ pageSize: 0, pageToken: "", state: SubscriptionState.SUBSCRIPTION_STATE_DISABLED });
    assert.deepEqual(listed.subscriptions.map((s) => s.subscriptionId), [id]);
    assert.equal((await publish(t, "document.deleted")).subscriptionCount, 0, "a disabled subscription gets nothing");

    const { subscription: enabled } = await as(t).enableSubscription({ subscriptionId: id });
    assert.equal(enabled!.state, SubscriptionState.SUBSCRIPTION_STATE_ACTIVE);
    assert.equal(enabled!.disabledReason, "");
    assert.equal(enabled!.consecutiveFailures, 0);
    answers.set("/down", () => 200);
    const before = (got.get("/down") ?? []).length;
    assert.equal((await publish(t, "document.deleted", { document_id: "c" })).subscriptionCount, 1);
    const reqs = await requestsTo("/down", before + 1);
    assert.equal(JSON.parse(reqs[before]!.body).data.document_id, "c");
  });

  test("a delivery cut short by a restart is made by the next process (the queue is in Postgres)", async () => {
    const t = tenant();
    answers.set("/restart", (n) => (n === 1 ? 0 : 204));
    const { subscription } = await subscribe(t, "/restart");
    await publish(t, "document.ingested", { document_id: "r" });
    await requestsTo("/restart", 1);
    assert.equal(await service.stop(), 0, "stops cleanly with a delivery in flight");
    service = await startServiceProcess("notifications", serviceEnv);
    const [first, second] = await requestsTo("/restart", 2);
    assert.equal(second!.headers["webhook-id"], first!.headers["webhook-id"]);
    assert.equal(second!.body, first!.body);
    const log = await eventually(() => deliveries(t, subscription.subscriptionId), (d) => d.length === 1, "the attempt being logged");
    assert.equal(log[0]!.status, DeliveryStatus.DELIVERY_STATUS_SUCCEEDED);
    assert.equal(log[0]!.attempt, 1, "the interrupted attempt is not counted against the receiver");
  });

  test("only subscriptions that want the event type get it", async () => {
    const t = tenant();
    const deletedOnly = await subscribe(t, "/deleted-only", ["document.deleted", "document.deleted"]);
    assert.deepEqual(deletedOnly.subscription.eventTypes, ["document.deleted"], "duplicates dropped");
    await subscribe(t, "/everything");
    assert.equal((await publish(t, "ingestion.job.failed", { job_id: "j" })).subscriptionCount, 1);
    assert.equal((await publish(t, "document.deleted", { document_id: "x" })).subscriptionCount, 2);
    const [del] = await requestsTo("/deleted-only", 1);
    assert.equal(JSON.parse(del!.body).type, "document.deleted");
    const all = await requestsTo("/everything", 2);
    assert.deepEqual(all.map((r) => JSON.parse(r.body).type).sort(), ["document.deleted", "ingestion.job.failed"]);
  });

  test("tenants cannot see, change or publish to each other's subscriptions", async () => {
    const a = tenant();
    const b = tenant();
    const { subscription } = await subscribe(a, "/tenant-a");
    const id = subscription.subscriptionId;
    const other = as(b);
    for (const call of [
      () => other.getSubscription({ subscriptionId: id }),
      () => other.unsubscribe({ subscriptionId: id }),
      () => other.enableSubscription({ subscriptionId: id }),
      () => other.listDeliveries({ subscriptionId: id, pageSize: 0, pageToken: "", status: 0 }),
    ]) {
      assert.equal((await rejection(call())).code, status.NOT_FOUND);
    }
    assert.equal((await as(b).listSubscriptions({ pageSize: 0, pageToken: "", state: 0 })).subscriptions.length, 0);
    assert.equal((await publish(b, "document.ingested")).subscriptionCount, 0);
    assert.equal((await as(a).getSubscription({ subscriptionId: id })).subscription!.subscriptionId, id, "still there for its tenant");
    assert.equal((await rejection(as(undefined).listSubscriptions({ pageSize: 0, pageToken: "", state: 0 }))).code, status.UNAUTHENTICATED);
  });

  test("pages through subscriptions newest first; Unsubscribe deletes", async () => {
    const t = tenant();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await subscribe(t, `/page-${i}`, [], "a-given-secret-0123456789")).subscription.subscriptionId);
    const first = await as(t).listSubscriptions({ pageSize: 2, pageToken: "", state: 0 });
    assert.deepEqual(first.subscriptions.map((s) => s.subscriptionId), [ids[2], ids[1]]);
    assert.ok(first.nextPageToken);
    const second = await as(t).listSubscriptions({ pageSize: 2, pageToken: first.nextPageToken, state: 0 });
    assert.deepEqual(second.subscriptions.map((s) => s.subscriptionId), [ids[0]]);
    assert.equal(second.nextPageToken, "");
    expectInvalid(await rejection(as(t).listSubscriptions({ pageSize: 2, pageToken: first.nextPageToken, state: SubscriptionState.SUBSCRIPTION_STATE_ACTIVE })), "page_token", /other filters/);

    await as(t).unsubscribe({ subscriptionId: ids[0]! });
    assert.equal((await rejection(as(t).getSubscription({ subscriptionId: ids[0]! }))).code, status.NOT_FOUND);
    assert.equal((await rejection(as(t).unsubscribe({ subscriptionId: ids[0]! }))).code, status.NOT_FOUND);
    assert.equal((await rejection(as(t).getSubscription({ subscriptionId: "not-a-uuid" }))).code, status.NOT_FOUND);
  });

  test("bad input is INVALID_ARGUMENT naming the field", async () => {
    const c = as(tenant());
    const sub = (p: { url?: string; eventTypes?: string[]; secret?: string; description?: string }) =>
      rejection(c.subscribe({ url: `${base}/x`, eventTypes: [], secret: "", description: "", ...p }));
    expectInvalid(await sub({ url: "" }), "url", /required/);
    expectInvalid(await sub({ url: "not a url" }), "url", /not an absolute URL/);
    expectInvalid(await sub({ url: "ftp://example.com/hook" }), "url", /must be https/);
    expectInvalid(await sub({ url: "http://example.com/hook" }), "url", /only accepted for localhost/);
    expectInvalid(await sub({ eventTypes: ["document.ingested", "document.exploded"] }), "event_types[1]", /unknown event type "document.exploded"/);
    expectInvalid(await sub({ secret: "short" }), "secret", /16 to 256 characters/);
    expectInvalid(await sub({ description: "x".repeat(501) }), "description", /at most 500/);
    expectInvalid(await rejection(c.publish({ eventType: "nope", payload: {}, eventId: "", occurTime: undefined })), "event_type", /unknown event type/);
    expectInvalid(await rejection(c.getSubscription({ subscriptionId: "" })), "subscription_id", /required/);
    expectInvalid(await rejection(c.listSubscriptions({ pageSize: -1, pageToken: "", state: 0 })), "page_size", /negative/);
  });
});

describe("webhook posts to internal addresses", () => {
  const post = (url: string, allowPrivate: boolean) =>
    postOnce(url, "{}", { "content-type": "application/json" }, { timeoutMs: 2_000, allowPrivate, signal: new AbortController().signal });
  const port = () => new URL(base).port;

  test("are refused by IP literal and by a name that resolves to one, before anything is sent", async () => {
    await assert.rejects(post(`${base}/egress-refused`, false), (err) => err instanceof EgressRefusedError && /NOTIFICATIONS_ALLOW_PRIVATE/.test(err.message));
    await assert.rejects(post(`http://[::1]:${port()}/egress-refused`, false), EgressRefusedError);
    await assert.rejects(post(`http://localhost:${port()}/egress-refused`, false), /localhost resolves to internal address/);
    assert.equal(got.get("/egress-refused"), undefined, "the receiver saw no request");
  });

  test("are delivered when private addresses are allowed", async () => {
    assert.equal((await post(`${base}/egress-allowed`, true)).status, 204);
    assert.equal(got.get("/egress-allowed")?.length, 1);
  });
});
