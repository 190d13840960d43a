// Conformance test of the s3ag emulator with the AWS SDK for JavaScript v3.
//
// The JS SDK signs its own requests (SigV4, presigned URLs, aws-chunked
// uploads) and parses the emulator's answers with its own deserializers, so
// a pass here shows that the emulator's signature checks and wire formats
// agree with an implementation that is not this project's.
//
// conformance/run.sh starts a fresh emulator with emulator.yaml and passes
// its endpoint in S3AG_ENDPOINT. The tests run in order and share state:
// the grants made as admin are the ones the application then uses.

import assert from "node:assert/strict";
import http from "node:http";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";

import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  CreateAccessGrantCommand,
  CreateAccessGrantsInstanceCommand,
  CreateAccessGrantsLocationCommand,
  DeleteAccessGrantCommand,
  DeleteAccessGrantsInstanceCommand,
  DeleteAccessGrantsLocationCommand,
  GetAccessGrantCommand,
  GetAccessGrantsInstanceForPrefixCommand,
  GetDataAccessCommand,
  ListAccessGrantsCommand,
  S3ControlClient,
} from "@aws-sdk/client-s3-control";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { NodeHttpHandler } from "@smithy/node-http-handler";

// These match emulator.yaml.
const ACCOUNT = "111122223333";
const REGION = "us-east-1";
const BUCKET = "js-conformance-bucket";
const ADMIN = {
  arn: `arn:aws:iam::${ACCOUNT}:user/admin`,
  accessKeyId: "AKIAJSCONFORMADMIN01",
  secretAccessKey: "js-admin-secret",
};
const APP = {
  arn: `arn:aws:iam::${ACCOUNT}:user/app`,
  accessKeyId: "AKIAJSCONFORMAPP0001",
  secretAccessKey: "js-app-secret",
};
const LOCATION_ROLE = `arn:aws:iam::${ACCOUNT}:role/ag-location`;
const INSTANCE_ARN = `arn:aws:s3:${REGION}:${ACCOUNT}:access-grants/default`;
const DATA_SCOPE = `s3://${BUCKET}/data/*`;
const CONTENT_A = "hello from data/a.txt\n";
// Large enough that the SDK frames it in more than one aws-chunked chunk.
const CONTENT_B = "top secret\n".repeat(8000);

const endpoint = process.env.S3AG_ENDPOINT;
if (!endpoint) {
  throw new Error("S3AG_ENDPOINT is not set: run this test through conformance/run.sh");
}
const port = new URL(endpoint).port;

// S3 Control's endpoint rules put the account ID in front of the host, even
// for a custom endpoint. Node's URL parser rejects 111122223333.127.0.0.1
// (it reads a dotted-number host as an IPv4 address), so S3 Control is given
// http://localhost:PORT, becomes 111122223333.localhost:PORT, and this
// agent sends every host name to 127.0.0.1, where the emulator listens.
const agent = new http.Agent({
  keepAlive: true,
  lookup(hostname, options, callback) {
    if (options && options.all) {
      callback(null, [{ address: "127.0.0.1", family: 4 }]);
    } else {
      callback(null, "127.0.0.1", 4);
    }
  },
});
const requestHandler = new NodeHttpHandler({ httpAgent: agent });
const controlEndpoint = `http://localhost:${port}`;

/** Requests as the SDK sent them (after signing), by client label. */
const sent = [];

/** recordRequests keeps each signed request's method, path and headers. */
function recordRequests(client, label) {
  client.middlewareStack.add(
    (next) => async (args) => {
      sent.push({
        label,
        method: args.request.method,
        path: args.request.path,
        headers: { ...args.request.headers },
      });
      return next(args);
    },
    { step: "finalizeRequest", priority: "low", name: `record-${label}` },
  );
  return client;
}

function s3Client(credentials, label) {
  return recordRequests(
    new S3Client({ region: REGION, endpoint, forcePathStyle: true, credentials, requestHandler }),
    label,
  );
}

function controlClient(credentials, label) {
  return recordRequests(
    new S3ControlClient({ region: REGION, endpoint: controlEndpoint, credentials, requestHandler }),
    label,
  );
}

function stsClient(credentials, label) {
  return recordRequests(new STSClient({ region: REGION, endpoint, credentials, requestHandler }), label);
}

/** emulatorJSON fetches an introspection document of the emulator. */
async function emulatorJSON(path) {
  const resp = await fetch(`${endpoint}/_emulator/${path}`);
  assert.equal(resp.status, 200, `GET /_emulator/${path}`);
  return resp.json();
}

/** lastRequest is the newest request the emulator logged that matches pred. */
async function lastRequest(pred) {
  const { requests } = await emulatorJSON("requests");
  const found = requests.filter(pred);
  assert.ok(found.length > 0, "the emulator logged no such request");
  return found[found.length - 1];
}

/** rejectsWith asserts that promise fails with the error name and HTTP status. */
async function rejectsWith(promise, name, status) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.name, name, `error name (message: ${err.message})`);
    assert.equal(err.$metadata?.httpStatusCode, status, "HTTP status");
    return true;
  });
}

const admin = {
  s3: s3Client(ADMIN, "admin-s3"),
  control: controlClient(ADMIN, "admin-control"),
};
const app = {
  sts: stsClient(APP, "app-sts"),
  control: controlClient(APP, "app-control"),
};

/** State shared by the steps, in order. */
const state = {};

before(async () => {
  state.callsBefore = (await emulatorJSON("calls")).calls;
});

after(() => {
  agent.destroy();
});

describe("JS SDK v3 against the s3ag emulator", () => {
  test("1. STS GetCallerIdentity as the application", async () => {
    const out = await app.sts.send(new GetCallerIdentityCommand({}));
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.equal(out.Arn, APP.arn);
    assert.equal(out.Account, ACCOUNT);
    assert.ok(out.UserId, "UserId is empty");
    // A query-protocol POST of a form body, signed for service sts.
    const req = sent.findLast((r) => r.label === "app-sts");
    assert.equal(req.method, "POST");
    assert.match(req.headers.authorization, new RegExp(`/${REGION}/sts/aws4_request`));
    const logged = await lastRequest((r) => r.api === "GetCallerIdentity");
    assert.equal(logged.access_key_id, APP.accessKeyId);
    assert.equal(logged.status, 200);
  });

  test("2a. admin creates the instance, the default location and a READ grant", async () => {
    const inst = await admin.control.send(new CreateAccessGrantsInstanceCommand({ AccountId: ACCOUNT }));
    assert.equal(inst.AccessGrantsInstanceArn, INSTANCE_ARN);
    assert.equal(inst.AccessGrantsInstanceId, "default");
    assert.ok(inst.CreatedAt instanceof Date && !Number.isNaN(inst.CreatedAt.getTime()), "CreatedAt");

    // A second instance in the same account and Region is refused.
    await rejectsWith(
      admin.control.send(new CreateAccessGrantsInstanceCommand({ AccountId: ACCOUNT })),
      "AccessGrantsInstanceAlreadyExists",
      409,
    );

    const loc = await admin.control.send(
      new CreateAccessGrantsLocationCommand({ AccountId: ACCOUNT, LocationScope: "s3://", IAMRoleArn: LOCATION_ROLE }),
    );
    assert.equal(loc.AccessGrantsLocationId, "default");
    assert.equal(loc.LocationScope, "s3://");
    assert.equal(loc.IAMRoleArn, LOCATION_ROLE);
    assert.equal(loc.AccessGrantsLocationArn, `${INSTANCE_ARN}/location/default`);

    const grant = await admin.control.send(
      new CreateAccessGrantCommand({
        AccountId: ACCOUNT,
        AccessGrantsLocationId: "default",
        AccessGrantsLocationConfiguration: { S3SubPrefix: `${BUCKET}/data/*` },
        Grantee: { GranteeType: "IAM", GranteeIdentifier: APP.arn },
        Permission: "READ",
      }),
    );
    assert.equal(grant.GrantScope, DATA_SCOPE);
    assert.equal(grant.Permission, "READ");
    assert.deepEqual(grant.Grantee, { GranteeType: "IAM", GranteeIdentifier: APP.arn });
    assert.match(grant.AccessGrantId, /^[a-zA-Z0-9-]{1,64}$/);
    assert.equal(grant.AccessGrantArn, `${INSTANCE_ARN}/grant/${grant.AccessGrantId}`);
    state.readGrantId = grant.AccessGrantId;

    // Every S3 Control request carried the account header and went to the
    // account-prefixed host; the emulator routed it on the path.
    const controlReqs = sent.filter((r) => r.label === "admin-control");
    assert.ok(controlReqs.length >= 4);
    for (const r of controlReqs) {
      assert.equal(r.headers["x-amz-account-id"], ACCOUNT);
      assert.equal(r.headers.host, `${ACCOUNT}.localhost:${port}`);
      assert.ok(r.path.startsWith("/v20180820/"), r.path);
    }
  });

  test("2b. admin puts two objects (fixed-length and streamed bodies)", async (t) => {
    const a = await admin.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: "data/a.txt", Body: CONTENT_A, ContentType: "text/plain" }),
    );
    assert.equal(a.$metadata.httpStatusCode, 200);
    assert.ok(a.ETag, "PutObject returned no ETag");

    // A stream body of unknown length makes the SDK send an aws-chunked body
    // with a trailing checksum, which the emulator must decode.
    const b = await admin.s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: "secret/b.txt",
        Body: Readable.from([Buffer.from(CONTENT_B.slice(0, 30000)), Buffer.from(CONTENT_B.slice(30000))]),
        ContentLength: Buffer.byteLength(CONTENT_B),
      }),
    );
    assert.equal(b.$metadata.httpStatusCode, 200);

    const puts = sent.filter((r) => r.label === "admin-s3" && r.method === "PUT");
    assert.equal(puts.length, 2);
    for (const r of puts) {
      t.diagnostic(
        `PutObject ${r.path}: content-encoding=${r.headers["content-encoding"]} ` +
          `x-amz-content-sha256=${r.headers["x-amz-content-sha256"]} x-amz-trailer=${r.headers["x-amz-trailer"]}`,
      );
    }
    const chunked = puts.filter((r) => /aws-chunked/.test(r.headers["content-encoding"] ?? ""));
    assert.ok(
      chunked.length >= 1,
      `no PutObject used aws-chunked; x-amz-content-sha256 were ${puts.map((r) => r.headers["x-amz-content-sha256"])}`,
    );
    for (const r of chunked) {
      assert.match(r.headers["x-amz-content-sha256"], /^STREAMING-/);
      assert.ok(r.headers["x-amz-trailer"], "aws-chunked body without x-amz-trailer");
    }

    // The stored bytes are the decoded payload, not the chunk framing.
    for (const [key, want] of [
      ["data/a.txt", CONTENT_A],
      ["secret/b.txt", CONTENT_B],
    ]) {
      const got = await admin.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      assert.equal(await got.Body.transformToString(), want, key);
      assert.equal(got.ContentLength, Buffer.byteLength(want), key);
    }
  });

  test("3. the application finds the instance and gets data access", async () => {
    const inst = await app.control.send(
      new GetAccessGrantsInstanceForPrefixCommand({ AccountId: ACCOUNT, S3Prefix: `s3://${BUCKET}/data/a.txt` }),
    );
    assert.equal(inst.AccessGrantsInstanceArn, INSTANCE_ARN);
    assert.equal(inst.AccessGrantsInstanceId, "default");

    const out = await app.control.send(
      new GetDataAccessCommand({ AccountId: ACCOUNT, Target: DATA_SCOPE, Permission: "READ" }),
    );
    assert.equal(out.$metadata.httpStatusCode, 200);
    assert.equal(out.MatchedGrantTarget, DATA_SCOPE);
    assert.deepEqual(out.Grantee, { GranteeType: "IAM", GranteeIdentifier: APP.arn });
    const c = out.Credentials;
    assert.match(c.AccessKeyId, /^ASIA/);
    assert.ok(c.SecretAccessKey, "no SecretAccessKey");
    assert.ok(c.SessionToken, "no SessionToken");
    assert.ok(c.Expiration instanceof Date, "Expiration is not a Date");
    // Default DurationSeconds is one hour.
    const left = (c.Expiration.getTime() - Date.now()) / 1000;
    assert.ok(left > 3300 && left <= 3660, `credentials expire in ${left}s, want about 3600s`);
    state.vended = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
    };

    // Outside every grant: the message names the permission and the target.
    await assert.rejects(
      app.control.send(
        new GetDataAccessCommand({ AccountId: ACCOUNT, Target: `s3://${BUCKET}/secret/*`, Permission: "READ" }),
      ),
      (err) => {
        assert.equal(err.name, "AccessDenied");
        assert.equal(err.$metadata.httpStatusCode, 403);
        assert.match(err.message, new RegExp(`READ permissions.*s3://${BUCKET}/secret/`));
        return true;
      },
    );
  });

  test("4. S3 with the vended credentials stays inside the grant", async () => {
    assert.ok(state.vended, "no vended credentials from step 3");
    const s3 = s3Client(state.vended, "vended-s3");

    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "data/a.txt" }));
    assert.equal(got.$metadata.httpStatusCode, 200);
    assert.equal(await got.Body.transformToString(), CONTENT_A);
    assert.equal(got.ContentType, "text/plain");
    const logged = await lastRequest((r) => r.api === "GetObject" && r.key === "data/a.txt");
    assert.equal(logged.access_key_id, state.vended.accessKeyId);
    assert.equal(logged.grant_scope, DATA_SCOPE);
    assert.equal(logged.status, 200);
    const req = sent.findLast((r) => r.label === "vended-s3");
    assert.equal(req.headers["x-amz-security-token"], state.vended.sessionToken);

    await rejectsWith(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "secret/b.txt" })), "AccessDenied", 403);
    await rejectsWith(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "data/x", Body: "not allowed" })),
      "AccessDenied",
      403,
    );

    const list = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "data/" }));
    assert.equal(list.$metadata.httpStatusCode, 200);
    assert.deepEqual(
      (list.Contents ?? []).map((o) => o.Key),
      ["data/a.txt"],
    );
    await rejectsWith(s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "secret/" })), "AccessDenied", 403);

    // The object written with the denied PutObject must not exist.
    await rejectsWith(admin.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "data/x" })), "NoSuchKey", 404);
  });

  test("5. a presigned GetObject URL works with fetch()", async () => {
    assert.ok(state.vended, "no vended credentials from step 3");
    const s3 = s3Client(state.vended, "vended-presign");

    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "data/a.txt" }), {
      expiresIn: 300,
    });
    const u = new URL(url);
    assert.equal(u.searchParams.get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert.equal(u.searchParams.get("X-Amz-Security-Token"), state.vended.sessionToken);
    const resp = await fetch(url);
    assert.equal(resp.status, 200);
    assert.equal(await resp.text(), CONTENT_A);

    // The same URL with its signature changed is refused.
    const sig = u.searchParams.get("X-Amz-Signature");
    u.searchParams.set("X-Amz-Signature", (sig[0] === "0" ? "1" : "0") + sig.slice(1));
    const bad = await fetch(u);
    assert.equal(bad.status, 403);
    assert.match(await bad.text(), /<Code>SignatureDoesNotMatch<\/Code>/);

    // A correctly signed URL outside the grant is refused too.
    const secretURL = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "secret/b.txt" }), {
      expiresIn: 300,
    });
    const denied = await fetch(secretURL);
    assert.equal(denied.status, 403);
    assert.match(await denied.text(), /<Code>AccessDenied<\/Code>/);
  });

  test("6. a wrong secret is SignatureDoesNotMatch, an unknown key InvalidAccessKeyId", async () => {
    const wrong = { accessKeyId: ADMIN.accessKeyId, secretAccessKey: "not-the-admin-secret" };
    await rejectsWith(
      s3Client(wrong, "wrong-s3").send(new GetObjectCommand({ Bucket: BUCKET, Key: "data/a.txt" })),
      "SignatureDoesNotMatch",
      403,
    );
    await rejectsWith(
      s3Client(wrong, "wrong-s3-put").send(
        new PutObjectCommand({ Bucket: BUCKET, Key: "data/y", Body: Readable.from([Buffer.from("y")]), ContentLength: 1 }),
      ),
      "SignatureDoesNotMatch",
      403,
    );
    await rejectsWith(
      controlClient(wrong, "wrong-control").send(
        new GetDataAccessCommand({ AccountId: ACCOUNT, Target: DATA_SCOPE, Permission: "READ" }),
      ),
      "SignatureDoesNotMatch",
      403,
    );
    await rejectsWith(
      stsClient(wrong, "wrong-sts").send(new GetCallerIdentityCommand({})),
      "SignatureDoesNotMatch",
      403,
    );
    await rejectsWith(
      s3Client({ accessKeyId: "AKIAUNKNOWNKEY000001", secretAccessKey: "x" }, "unknown-s3").send(
        new GetObjectCommand({ Bucket: BUCKET, Key: "data/a.txt" }),
      ),
      "InvalidAccessKeyId",
      403,
    );
    // The vended key with another session token is not the session.
    assert.ok(state.vended, "no vended credentials from step 3");
    await rejectsWith(
      s3Client({ ...state.vended, sessionToken: "forged-token" }, "forged-token").send(
        new GetObjectCommand({ Bucket: BUCKET, Key: "data/a.txt" }),
      ),
      "InvalidToken",
      400,
    );
  });

  test("grants round trip: create, get, list, delete", async () => {
    const created = await admin.control.send(
      new CreateAccessGrantCommand({
        AccountId: ACCOUNT,
        AccessGrantsLocationId: "default",
        AccessGrantsLocationConfiguration: { S3SubPrefix: `${BUCKET}/tmp/*` },
        Grantee: { GranteeType: "IAM", GranteeIdentifier: APP.arn },
        Permission: "WRITE",
      }),
    );
    assert.equal(created.GrantScope, `s3://${BUCKET}/tmp/*`);
    const id = created.AccessGrantId;
    assert.notEqual(id, state.readGrantId);

    const got = await admin.control.send(new GetAccessGrantCommand({ AccountId: ACCOUNT, AccessGrantId: id }));
    assert.equal(got.GrantScope, `s3://${BUCKET}/tmp/*`);
    assert.equal(got.Permission, "WRITE");
    assert.equal(got.AccessGrantsLocationId, "default");
    assert.deepEqual(got.AccessGrantsLocationConfiguration, { S3SubPrefix: `${BUCKET}/tmp/*` });

    const listed = await admin.control.send(new ListAccessGrantsCommand({ AccountId: ACCOUNT }));
    const byId = new Map((listed.AccessGrantsList ?? []).map((g) => [g.AccessGrantId, g]));
    assert.equal(byId.size, 2);
    assert.equal(byId.get(state.readGrantId)?.GrantScope, DATA_SCOPE);
    assert.equal(byId.get(id)?.Permission, "WRITE");

    const filtered = await admin.control.send(new ListAccessGrantsCommand({ AccountId: ACCOUNT, Permission: "WRITE" }));
    assert.deepEqual(
      (filtered.AccessGrantsList ?? []).map((g) => g.AccessGrantId),
      [id],
    );

    const del = await admin.control.send(new DeleteAccessGrantCommand({ AccountId: ACCOUNT, AccessGrantId: id }));
    assert.ok([200, 204].includes(del.$metadata.httpStatusCode), `status ${del.$metadata.httpStatusCode}`);

    const after = await admin.control.send(new ListAccessGrantsCommand({ AccountId: ACCOUNT }));
    assert.deepEqual(
      (after.AccessGrantsList ?? []).map((g) => g.AccessGrantId),
      [state.readGrantId],
    );
    await rejectsWith(
      admin.control.send(new GetAccessGrantCommand({ AccountId: ACCOUNT, AccessGrantId: id })),
      "NoSuchAccessGrantError",
      404,
    );
    await rejectsWith(
      admin.control.send(new DeleteAccessGrantCommand({ AccountId: ACCOUNT, AccessGrantId: id })),
      "NoSuchAccessGrantError",
      404,
    );
  });

  test("the application may not manage grants", async () => {
    await rejectsWith(
      app.control.send(new ListAccessGrantsCommand({ AccountId: ACCOUNT })),
      "AccessDenied",
      403,
    );
  });

  test("7. the emulator counted the calls", async () => {
    const { calls, outcomes } = await emulatorJSON("calls");
    const delta = (api) => (calls[api] ?? 0) - (state.callsBefore?.[api] ?? 0);
    // Step 3 made two GetDataAccess calls (one granted, one denied) and step 6
    // one with a bad signature.
    assert.equal(delta("GetDataAccess"), 3);
    assert.equal(outcomes.GetDataAccess?.["200"], 1);
    assert.equal(outcomes.GetDataAccess?.["403 AccessDenied"], 1);
    assert.equal(outcomes.GetDataAccess?.["403 SignatureDoesNotMatch"], 1);
    assert.equal(delta("GetAccessGrantsInstanceForPrefix"), 1);
    assert.ok(delta("GetCallerIdentity") >= 1, "GetCallerIdentity not counted");
  });

  test("teardown: a non-empty instance cannot be deleted; an empty one can", async () => {
    await rejectsWith(
      admin.control.send(new DeleteAccessGrantsInstanceCommand({ AccountId: ACCOUNT })),
      "AccessGrantsInstanceNotEmptyError",
      400,
    );
    await admin.control.send(new DeleteAccessGrantCommand({ AccountId: ACCOUNT, AccessGrantId: state.readGrantId }));
    await admin.control.send(
      new DeleteAccessGrantsLocationCommand({ AccountId: ACCOUNT, AccessGrantsLocationId: "default" }),
    );
    await admin.control.send(new DeleteAccessGrantsInstanceCommand({ AccountId: ACCOUNT }));
    // With the grant gone, the application gets nothing.
    await rejectsWith(
      app.control.send(new GetDataAccessCommand({ AccountId: ACCOUNT, Target: DATA_SCOPE, Permission: "READ" })),
      "AccessGrantsInstanceNotExistsError",
      404,
    );
  });
});
