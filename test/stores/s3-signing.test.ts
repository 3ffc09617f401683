import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AwsV4Signer } from "aws4fetch";
import { afterAll, describe, expect, it } from "vitest";
import {
  CredentialSource,
  credentialProvider,
  encodeRfc3986Path,
  md5Base64,
  md5Hex,
  parseBucketUrl,
  parseIni,
  readProfile,
  SigV4Signer,
} from "../../src/stores/s3/index.js";
import { canonicalQuery, sha256Hex } from "../../src/stores/s3/signing.js";

// The examples of AWS's "Signature Calculations for the Authorization Header" and
// "Authenticating Requests: Using Query Parameters" pages for S3.
const EXAMPLE = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const DATE = new Date("2013-05-24T00:00:00Z");
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const signer = new SigV4Signer({ region: "us-east-1", service: "s3" });

function signatureOf(authorization: string | undefined): string | undefined {
  return /Signature=([0-9a-f]{64})/.exec(authorization ?? "")?.[1];
}

describe("SigV4 signer", () => {
  it("signs AWS's GET Object example", async () => {
    const headers = await signer.sign(
      {
        method: "GET",
        url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
        headers: { Range: "bytes=0-9" },
        payloadHash: EMPTY,
      },
      EXAMPLE,
      DATE,
    );
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });

  it("signs AWS's PUT Object example (a '$' in the key, extra headers)", async () => {
    const body = "Welcome to Amazon S3.";
    const headers = await signer.sign(
      {
        method: "PUT",
        url: new URL(
          `https://examplebucket.s3.amazonaws.com/${encodeRfc3986Path("test$file.text")}`,
        ),
        headers: {
          Date: "Fri, 24 May 2013 00:00:00 GMT",
          "x-amz-storage-class": "REDUCED_REDUNDANCY",
        },
        payloadHash: await sha256Hex(body),
      },
      EXAMPLE,
      DATE,
    );
    expect(signatureOf(headers.authorization)).toBe(
      "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
  });

  it("signs AWS's GET Bucket examples (query strings, sorted and encoded)", async () => {
    const lifecycle = await signer.sign(
      {
        method: "GET",
        url: new URL("https://examplebucket.s3.amazonaws.com/?lifecycle="),
        headers: {},
        payloadHash: EMPTY,
      },
      EXAMPLE,
      DATE,
    );
    expect(signatureOf(lifecycle.authorization)).toBe(
      "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
    const list = await signer.sign(
      {
        method: "GET",
        url: new URL(
          `https://examplebucket.s3.amazonaws.com/?${canonicalQuery([
            ["prefix", "J"],
            ["max-keys", "2"],
          ])}`,
        ),
        headers: {},
        payloadHash: EMPTY,
      },
      EXAMPLE,
      DATE,
    );
    expect(signatureOf(list.authorization)).toBe(
      "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
  });

  it("presigns AWS's query-string example", async () => {
    const url = await signer.presign(
      "GET",
      new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
      EXAMPLE,
      86400,
      DATE,
    );
    expect(url.searchParams.get("X-Amz-Signature")).toBe(
      "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    );
    expect(url.searchParams.get("X-Amz-Credential")).toBe(
      "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
    );
  });

  it("agrees with aws4fetch, an independent signer, on keys both encode alike", async () => {
    for (const key of [
      "a/zarr.json",
      "c/0/0",
      "x y/é",
      "~tilde/-_.",
      "deep/path/with/many/parts",
    ]) {
      const url = new URL(`https://bucket.s3.eu-west-1.amazonaws.com/${encodeRfc3986Path(key)}`);
      const ours = await new SigV4Signer({ region: "eu-west-1", service: "s3" }).sign(
        { method: "GET", url, headers: {}, payloadHash: "UNSIGNED-PAYLOAD" },
        EXAMPLE,
        DATE,
      );
      const theirs = new AwsV4Signer({
        url: url.href,
        method: "GET",
        headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
        accessKeyId: EXAMPLE.accessKeyId,
        secretAccessKey: EXAMPLE.secretAccessKey,
        service: "s3",
        region: "eu-west-1",
        datetime: "20130524T000000Z",
      });
      const signed = await theirs.sign();
      expect(ours.authorization, key).toBe(signed.headers.get("authorization"));
    }
  });

  it("encodes every reserved character so the sent path is the signed path", () => {
    expect(encodeRfc3986Path("x+y=z,!@$&'()~/percent%20/hash#q?*")).toBe(
      "x%2By%3Dz%2C%21%40%24%26%27%28%29~/percent%2520/hash%23q%3F%2A",
    );
    expect(new URL(`http://h/b/${encodeRfc3986Path("a b/ü+!")}`).pathname).toBe(
      "/b/a%20b/%C3%BC%2B%21",
    );
  });
});

describe("MD5 for Content-MD5", () => {
  it("matches node:crypto on lengths around the block boundaries", () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 70_000]) {
      const data = randomBytes(n);
      expect(md5Hex(data)).toBe(createHash("md5").update(data).digest("hex"));
      expect(md5Base64(data)).toBe(createHash("md5").update(data).digest("base64"));
    }
  });
});

describe("credentials, profiles and URLs", () => {
  const dir = mkdtempSync(join(tmpdir(), "zs-s3-cred-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "credentials"),
    "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = defaultsecret\n\n[work]\naws_access_key_id=WORKKEY\naws_secret_access_key=worksecret\naws_session_token = worktoken\n",
  );
  writeFileSync(
    join(dir, "config"),
    "# comment\n[default]\nregion = eu-central-1\n\n[profile work]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\n",
  );
  const files = {
    AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials"),
    AWS_CONFIG_FILE: join(dir, "config"),
  };

  it("parses INI sections, comments and nested settings", () => {
    expect(
      parseIni("[a]\nk = v ; not a comment\n; c\n[profile  b]\nx=1\n  nested = skipped\n"),
    ).toEqual({
      a: { k: "v ; not a comment" },
      "profile b": { x: "1" },
    });
  });

  it("reads a profile from ~/.aws/credentials and ~/.aws/config", async () => {
    expect(await readProfile("work", files)).toEqual({
      accessKeyId: "WORKKEY",
      secretAccessKey: "worksecret",
      sessionToken: "worktoken",
      region: "ap-south-1",
      endpointUrl: "http://127.0.0.1:9000",
    });
    expect((await readProfile("default", files))?.region).toBe("eu-central-1");
    expect(await readProfile("absent", files)).toBeUndefined();
  });

  it("chains options, environment, then the AWS_PROFILE profile", async () => {
    const fromOptions = await credentialProvider({
      credentials: { accessKeyId: "O", secretAccessKey: "o" },
      env: files,
    });
    expect(await fromOptions?.()).toEqual({ accessKeyId: "O", secretAccessKey: "o" });
    const fromEnv = await credentialProvider({
      env: { ...files, AWS_ACCESS_KEY_ID: "E", AWS_SECRET_ACCESS_KEY: "e", AWS_SESSION_TOKEN: "t" },
    });
    expect(await fromEnv?.()).toEqual({
      accessKeyId: "E",
      secretAccessKey: "e",
      sessionToken: "t",
    });
    const fromProfile = await credentialProvider({ env: { ...files, AWS_PROFILE: "work" } });
    expect((await fromProfile?.())?.accessKeyId).toBe("WORKKEY");
    const fromDefault = await credentialProvider({ env: files });
    expect((await fromDefault?.())?.accessKeyId).toBe("DEFAULTKEY");
    expect(
      await credentialProvider({
        env: { AWS_CONFIG_FILE: "/nonexistent", AWS_SHARED_CREDENTIALS_FILE: "/nonexistent" },
      }),
    ).toBeUndefined();
  });

  it("asks a provider again before its credentials expire, once for concurrent callers", async () => {
    let now = 0;
    let calls = 0;
    const source = new CredentialSource(
      async () => {
        calls += 1;
        return {
          accessKeyId: `K${calls}`,
          secretAccessKey: "s",
          expiration: new Date(now + 10 * 60_000),
        };
      },
      () => now,
    );
    const [a, b] = await Promise.all([source.get(), source.get()]);
    expect(a.accessKeyId).toBe("K1");
    expect(b.accessKeyId).toBe("K1");
    now += 4 * 60_000;
    expect((await source.get()).accessKeyId).toBe("K1");
    now += 2 * 60_000; // within 5 minutes of expiry
    expect((await source.get()).accessKeyId).toBe("K2");
    expect(calls).toBe(2);
    const broken = new CredentialSource(() => ({ accessKeyId: "", secretAccessKey: "" }));
    await expect(broken.get()).rejects.toThrow(/provider returned no accessKeyId/);
  });

  it("parses s3:// and gs:// URLs", () => {
    expect(parseBucketUrl("s3://bucket/a/b.zarr/")).toEqual({
      scheme: "s3",
      bucket: "bucket",
      prefix: "a/b.zarr",
    });
    expect(parseBucketUrl("gs://b")).toEqual({ scheme: "gs", bucket: "b", prefix: "" });
    expect(() => parseBucketUrl("s3:/nope")).toThrow(/bucket URL/);
  });
});
