// What the end-to-end tests share: the server under test, fresh Chromium pages, joining a game, and a
// latency proxy that makes loopback feel like the internet. Each is stopped when the test that made it
// ends.
import { after, afterEach } from "node:test";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const shots = join(root, "e2e", "screenshots");
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];
// What a test started (servers, browsers, folders) is stopped when that test ends, newest first, so
// the next test does not share the machine with the last one's servers and rendering pages (a file's
// tests run one after another, and by its tenth test they slowed everything down).
const cleanups = [];
async function cleanUp() {
  // Every cleanup runs even if one fails; the first failure is the test's.
  let failure = null;
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()();
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure) throw failure;
}
afterEach(cleanUp);
after(cleanUp);

/** A fresh temporary folder, removed when the test ends (after its servers have stopped). */
export function tempDir(name) {
  const dir = mkdtempSync(join(tmpdir(), `skirmish-e2e-${name}-`));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts the server on 127.0.0.1:0 and resolves with its base URL, read from its startup line. The
 * server records replays into a fresh temporary folder unless `flags` name one (`--replay-dir`), so
 * tests never write into the repository.
 */
export function startServer(flags) {
  // No server-side fill bots unless a test asks for them: they would walk into and shoot at the pages.
  const bots = flags.includes("--fill-bots") ? [] : ["--fill-bots", "0"];
  // Made before the server starts, so removed after it stops (cleanups run in reverse).
  const replays = flags.includes("--replay-dir") ? [] : ["--replay-dir", tempDir("replays")];
  return startBinary("skirmish-server", [
    "--bind", "127.0.0.1:0", "--assets", join(root, "assets"), ...bots, ...replays, ...flags,
  ]);
}

/**
 * Starts a release binary of the workspace (`skirmish-server`, `skirmish-directory`) with `args` and
 * resolves with its base URL, read from its "listening on" line. It gets SIGTERM when the test ends.
 */
export function startBinary(name, args) {
  const process = spawn(join(root, "target", "release", name), args, { stdio: ["ignore", "ignore", "pipe"] });
  cleanups.push(async () => {
    process.kill("SIGTERM");
    await new Promise((resolve) => (process.exitCode !== null ? resolve() : process.once("exit", resolve)));
  });
  return new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${log}`)), 20_000);
    process.stderr.on("data", (chunk) => {
      log += chunk;
      const match = log.match(/listening on (http:\/\/[\d.]+:\d+)\//);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    process.once("exit", (code) => reject(new Error(`${name} exited with ${code}: ${log}`)));
  });
}

/**
 * Starts the Agones stand-in (`examples/agones_standin`: an allocator with mutual TLS and one SDK
 * sidecar per name) and resolves with `{allocator, sidecars, certs}`: its URLs and the folder holding
 * the directory's certificates. It stops when the test ends, failing loudly if any request it took
 * was one a real Agones would refuse.
 */
export function startAgonesStandIn(names) {
  const certs = tempDir("agones");
  const binary = join(root, "target", "release", "examples", "agones_standin");
  const standIn = spawn(binary, [certs, ...names], { stdio: ["pipe", "pipe", "inherit"] });
  cleanups.push(async () => {
    standIn.stdin.end();
    const code = await new Promise((resolve) =>
      standIn.exitCode !== null ? resolve(standIn.exitCode) : standIn.once("exit", resolve));
    if (code !== 0) throw new Error(`the Agones stand-in exited with ${code}: it refused a request (see above)`);
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`the Agones stand-in did not start: ${out}`)), 20_000);
    standIn.stdout.on("data", (chunk) => {
      out += chunk;
      const line = out.split("\n")[0];
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve({ ...JSON.parse(line), certs });
      }
    });
    standIn.once("exit", (code) => reject(new Error(`the Agones stand-in exited with ${code}`)));
  });
}

/**
 * Opens a fresh browser profile and page; records dialogs and page errors. `options` are handed to
 * the browser context (e.g. `{ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true }`
 * for a phone); the default is a 1100x700 desktop window.
 */
export async function openPage(name, options = {}) {
  const profile = mkdtempSync(join(tmpdir(), `skirmish-e2e-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 700 },
    ...options,
  });
  cleanups.push(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const record = { dialogs: [], errors: [] };
  page.on("dialog", async (dialog) => {
    record.dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => record.errors.push(String(error)));
  return { page, record };
}

/** The page's `window.skirmishStats()`. */
export const stats = (page) => page.evaluate(() => window.skirmishStats());

/** Opens the game at `url`, joins as `name`, and waits until the page plays. */
export async function joinGame(page, url, name) {
  await page.goto(url);
  await page.waitForFunction(() => typeof window.skirmishStats === "function");
  await page.fill("#name-input", name);
  await page.press("#name-input", "Enter");
  await page.waitForFunction(() => window.skirmishStats().connected && window.skirmishStats().me !== null, null, {
    timeout: 20_000,
  });
}

/**
 * A TCP proxy on 127.0.0.1:0 in front of `target` (an `http://host:port` URL) that delays every chunk
 * by `oneWayMs` plus a uniform jitter of ±`jitterMs`, in each direction. Like TCP, it never reorders:
 * jitter only stretches the gaps between chunks. Resolves with the proxy's base URL; stopped when the
 * test ends.
 */
export function startLatencyProxy(target, { oneWayMs, jitterMs }) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  // One queue per direction, drained in order by one timer at a time: timers of their own could fire
  // out of order (their delays are rounded to whole milliseconds), and a reordered stream is corrupt.
  const delay = (from, to) => {
    const queue = [];
    let lastDue = 0;
    let timer = null;
    const pump = () => {
      timer = null;
      while (queue.length > 0 && queue[0].due <= Date.now()) {
        const { chunk } = queue.shift();
        if (chunk === null) to.end();
        else if (!to.destroyed) to.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(pump, Math.max(0, queue[0].due - Date.now()));
    };
    const push = (chunk, due) => {
      lastDue = Math.max(lastDue, due);
      queue.push({ chunk, due: lastDue });
      if (timer === null) timer = setTimeout(pump, Math.max(0, queue[0].due - Date.now()));
    };
    from.on("data", (chunk) => push(chunk, Date.now() + oneWayMs + (Math.random() * 2 - 1) * jitterMs));
    // An end is delivered after the data before it.
    from.on("end", () => push(null, lastDue));
    from.on("error", () => to.destroy());
  };
  const proxy = createServer((client) => {
    client.setNoDelay(true);
    const upstream = connect({ host: hostname, port: Number(port), noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    }
    delay(client, upstream);
    delay(upstream, client);
  });
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => proxy.close(resolve));
  });
  return new Promise((resolve) => proxy.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${proxy.address().port}`)));
}
