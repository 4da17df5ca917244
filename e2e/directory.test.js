// A fleet in miniature: a stand-in Agones (allocator over mutual TLS, one SDK sidecar per game
// server), two real game servers reporting to it, and skirmish-directory in front. Pages served by
// the directory ask its /api/play and play on the game server it chose.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { root, shots, startBinary, startServer, startAgonesStandIn, openPage, joinGame, stats } from "./support.js";

/**
 * Starts a game server reporting to `sidecar`, tagged `tag`, one seat, allowing pages from `origin`
 * (none: only its own), and tells the stand-in its port.
 */
async function gameServer(sidecar, tag, origin) {
  const url = await startServer([
    "--agones", "--agones-sdk-url", sidecar, "--agones-health-interval", "0.2", "--room-tag", tag,
    "--max-rooms", "1", "--max-players-per-room", "1", ...(origin ? ["--allowed-origin", origin] : []),
  ]);
  const port = Number(new URL(url).port);
  const told = await fetch(`${sidecar}/standin/port`, {
    method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ port }),
  });
  assert.equal(told.status, 200);
  return { url, port };
}

/** Waits until the game server behind `sidecar` has told Agones it is Ready. */
async function untilReady(sidecar) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const state = (await (await fetch(`${sidecar}/gameserver`)).json()).status?.state;
    if (state === "Ready") return;
    assert.ok(Date.now() < deadline, `the game server never became Ready: ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts the stand-in for `names` and a directory in front of it; resolves with both. */
async function fleet(names) {
  const agones = await startAgonesStandIn(names);
  const directory = await startBinary("skirmish-directory", [
    "--bind", "127.0.0.1:0", "--assets", join(root, "assets"),
    "--allocator", agones.allocator,
    "--allocator-cert", join(agones.certs, "client.pem"),
    "--allocator-key", join(agones.certs, "client-key.pem"),
    "--allocator-ca", join(agones.certs, "allocator-ca.pem"),
    "--game-scheme", "ws", "--play-rate-per-ip", "100",
  ]);
  return { agones, directory };
}

test("pages served by the directory play on the game servers it allocates", { timeout: 120_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const { agones, directory } = await fleet(["gs-a", "gs-b"]);
  // Game servers allow the directory's page origin, as the fleet's manifests set it.
  const a = await gameServer(agones.sidecars["gs-a"], "AA", directory);
  const b = await gameServer(agones.sidecars["gs-b"], "BB", directory);
  await untilReady(agones.sidecars["gs-a"]);
  await untilReady(agones.sidecars["gs-b"]);

  // One seat each: the first page gets A (packed: A before B), the second B.
  const first = await openPage("fleet-first");
  await joinGame(first.page, `${directory}/`, "Ana");
  const one = await stats(first.page);
  assert.equal(new URL(one.serverUrl).port, String(a.port), `Ana plays on A: ${one.serverUrl}`);
  assert.equal(one.serverName, "gs-a");
  assert.match(one.roomCode, /^AA[A-Z2-9]{4}$/, "A's room carries A's tag");

  const second = await openPage("fleet-second");
  const sockets = [];
  second.page.on("websocket", (ws) => sockets.push(ws.url()));
  await joinGame(second.page, `${directory}/`, "Bo");
  const two = await stats(second.page);
  assert.equal(new URL(two.serverUrl).port, String(b.port), `A is full, Bo plays on B: ${two.serverUrl}`);
  assert.equal(two.serverName, "gs-b");
  assert.match(two.roomCode, /^BB[A-Z2-9]{4}$/);
  assert.deepEqual(sockets, [`ws://127.0.0.1:${b.port}/ws`], "the page opened one socket, to the server chosen");
  // The game server agrees: B holds one human in the room the page shows.
  const rooms = await (await fetch(`${b.url}/api/rooms`)).json();
  assert.deepEqual(rooms.rooms.map((r) => [r.code, r.humans]), [[two.roomCode, 1]]);
  await second.page.screenshot({ path: join(shots, "fleet-second.png") });

  // A friend's link to Ana's full room is refused on the card, in the directory's words.
  const friend = await openPage("fleet-friend");
  await friend.page.goto(`${directory}/?room=${one.roomCode}`);
  await friend.page.waitForFunction(() => typeof window.skirmishStats === "function");
  await friend.page.fill("#name-input", "Cy");
  await friend.page.press("#name-input", "Enter");
  await friend.page.waitForFunction(() => /full/i.test(document.querySelector("#join-message")?.textContent ?? ""), null, {
    timeout: 15_000,
  });
  assert.equal((await stats(friend.page)).connected, false, "no game socket for a full room");
  for (const { record } of [first, second, friend]) assert.deepEqual(record.errors, [], "no page errors");
});

test("a game server the page cannot reach ends the join on the card, not in endless retries", { timeout: 90_000 }, async () => {
  const { agones, directory } = await fleet(["gs-a"]);
  // Misconfigured: the game server allows only its own origin, so the directory's page is refused.
  await gameServer(agones.sidecars["gs-a"], "AA", null);
  await untilReady(agones.sidecars["gs-a"]);
  const { page, record } = await openPage("fleet-unreachable");
  await page.goto(`${directory}/`);
  await page.waitForFunction(() => typeof window.skirmishStats === "function");
  await page.fill("#name-input", "Di");
  await page.press("#name-input", "Enter");
  await page.waitForFunction(() => /cannot reach the game server/i.test(document.querySelector("#join-message")?.textContent ?? ""), null, {
    timeout: 30_000,
  });
  const text = await page.textContent("#join-message");
  assert.match(text, /ws:\/\/127\.0\.0\.1:\d+\/ws/, `the card names the address: ${text}`);
  assert.equal((await stats(page)).connected, false);
  assert.deepEqual(record.errors, [], "no page errors");
});
