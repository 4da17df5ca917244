// End to end: a page that watches a room (Watch, or /?watch=ROOM) sees two playing pages' players
// move, has no avatar, cannot write in the chat, and follows a player picked on the leaderboard or
// on the canvas. Run by scripts/test.sh after the release server and the client bundle are built.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { joinGame, openPage, shots, startServer, stats } from "./support.js";

const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 };

/** The spectator feed's delay for this test (the default 2 s would only slow it down). */
const DELAY_MS = 300;

/** Waits until the watching page draws player `id` at least `distance` units from `from`. */
async function seesMoved(page, id, from, distance) {
  await page.waitForFunction(
    ({ id, from, distance }) => window.skirmishStats().others
      .some((o) => o.id === id && Math.hypot(o.x - from.x, o.y - from.y) >= distance),
    { id, from, distance },
    { timeout: 15_000 },
  );
}

test("a spectator sees two players move, has no avatar and follows whom it picks", { timeout: 180_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const url = await startServer(["--view-radius", "3000", "--spectator-delay-ms", String(DELAY_MS)]);
  // With no room open there is nothing to watch: the card says so.
  const early = await openPage("early");
  await early.page.goto(url);
  await early.page.waitForFunction(() => typeof window.skirmishStats === "function");
  await early.page.click("#watch");
  await early.page.waitForFunction(
    () => document.getElementById("join-message").textContent.includes("No room is open to watch"),
    null,
    { timeout: 10_000 },
  );
  assert.equal(await early.page.isVisible("#join"), true, "back on the card");
  assert.equal((await stats(early.page)).spectator, false);

  const alice = await openPage("alice");
  const bob = await openPage("bob");
  await joinGame(alice.page, url, "alice");
  await joinGame(bob.page, url, "bob");
  const a = await stats(alice.page);
  const b = await stats(bob.page);
  assert.ok(a.roomCode, "the room has a code to watch it by");

  // Watch the room by its link.
  const watcher = await openPage("watcher");
  await watcher.page.goto(`${url}/?watch=${a.roomCode}`);
  await watcher.page.waitForFunction(
    () => window.skirmishStats?.()?.spectator && window.skirmishStats().visiblePlayers >= 2,
    null,
    { timeout: 20_000 },
  );
  let w = await stats(watcher.page);
  assert.equal(w.me, null, "a spectator has no avatar");
  assert.equal(w.playerId, null, "nor a player id");
  assert.equal(w.spectatorDelayMs, DELAY_MS, "the Welcome said how far behind the feed runs");
  assert.equal(w.roomCode, a.roomCode);
  assert.equal(w.visiblePlayers, 2, "two players in view, and no third one of its own");
  assert.deepEqual(w.others.map((o) => o.id).sort(), [a.playerId, b.playerId].sort(), "draws both players");
  assert.equal(await watcher.page.isVisible("#join"), false, "the landing card is gone");
  assert.equal(new URL(watcher.page.url()).search, `?watch=${a.roomCode}`, "the address watches again on reload");
  // The chat is readable, but a spectator cannot write to the players: the field is gone, and a
  // line says why.
  assert.equal(w.chatInput, false);
  assert.equal(await watcher.page.isVisible("#chat-input"), false, "no chat field");
  assert.match(await watcher.page.textContent("#chat-note"), /cannot write/);
  assert.equal(await watcher.page.isVisible("#chat-note"), true);

  // Both players walk; the watching page sees each move.
  const before = Object.fromEntries(w.others.map((o) => [o.id, o]));
  const keys = {};
  for (const [page, s] of [[alice.page, a], [bob.page, b]]) {
    keys[s.playerId] = s.me.y > 1024 ? "KeyW" : "KeyS";
    await page.keyboard.down(keys[s.playerId]);
  }
  await seesMoved(watcher.page, a.playerId, before[a.playerId], 80);
  await seesMoved(watcher.page, b.playerId, before[b.playerId], 80);
  for (const [page, s] of [[alice.page, a], [bob.page, b]]) await page.keyboard.up(keys[s.playerId]);
  w = await stats(watcher.page);
  assert.equal(w.me, null, "still no avatar");
  assert.equal(w.desyncs, 0, "the view always held the feed's check");

  // The chat reaches the spectator.
  await alice.page.keyboard.press("Enter");
  await alice.page.waitForFunction(() => document.activeElement?.id === "chat-input");
  await alice.page.keyboard.type("hello watchers");
  await alice.page.keyboard.press("Enter");
  await watcher.page.waitForFunction(
    () => document.getElementById("chat-log").textContent.includes("hello watchers"),
    null,
    { timeout: 10_000 },
  );

  // Follow bob from his leaderboard row: the camera goes where he is.
  await watcher.page.click(`#leaderboard .lb-row[data-id="${b.playerId}"]`);
  await watcher.page.waitForFunction(
    (id) => {
      const s = window.skirmishStats();
      const drawn = s.others.find((o) => o.id === id);
      return s.following === id && drawn && Math.hypot(drawn.x - s.camera.x, drawn.y - s.camera.y) < 1;
    },
    b.playerId,
    { timeout: 5_000 },
  );
  assert.match(await watcher.page.getAttribute(`#leaderboard .lb-row[data-id="${b.playerId}"]`, "class"), /own/,
    "the row of the player followed is marked");
  await watcher.page.screenshot({ path: join(shots, "watch-desktop-following.png") });

  // The movement keys take the camera back and pan it.
  const followed = await stats(watcher.page);
  await watcher.page.keyboard.down("KeyD");
  await watcher.page.waitForFunction((x0) => window.skirmishStats().camera.x >= x0 + 100, followed.camera.x,
    { timeout: 5_000 });
  await watcher.page.keyboard.up("KeyD");
  assert.equal((await stats(watcher.page)).following, null, "panning stops following");

  // A click where bob is drawn (off the centre now) follows him again.
  w = await stats(watcher.page);
  const drawnBob = w.others.find((o) => o.id === b.playerId);
  const viewport = watcher.page.viewportSize();
  const at = {
    x: (drawnBob.x - w.camera.x) * w.zoom + viewport.width / 2,
    y: (drawnBob.y - w.camera.y) * w.zoom + viewport.height / 2,
  };
  assert.ok(at.x > 0 && at.x < viewport.width / 2 - 20, `bob is left of the centre at ${JSON.stringify(at)}`);
  await watcher.page.mouse.click(at.x, at.y);
  await watcher.page.waitForFunction((id) => window.skirmishStats().following === id, b.playerId, { timeout: 5_000 });

  // A drag moves the world with the pointer, and stops following.
  const clicked = await stats(watcher.page);
  await watcher.page.mouse.move(500, 350);
  await watcher.page.mouse.down();
  await watcher.page.mouse.move(400, 350, { steps: 5 });
  await watcher.page.mouse.up();
  await watcher.page.waitForFunction((x0) => window.skirmishStats().camera.x > x0 + 50, clicked.camera.x,
    { timeout: 5_000 });
  assert.equal((await stats(watcher.page)).following, null, "dragging stops following");
  await watcher.page.screenshot({ path: join(shots, "watch-desktop.png") });

  // On a phone, the landing card's Watch button watches the room the server picks (the only one).
  const phone = await openPage("phone-watcher", PHONE);
  await phone.page.goto(url);
  await phone.page.waitForFunction(() => typeof window.skirmishStats === "function");
  await phone.page.screenshot({ path: join(shots, "watch-phone-card.png") });
  await phone.page.click("#watch");
  await phone.page.waitForFunction(
    () => window.skirmishStats?.()?.spectator && window.skirmishStats().visiblePlayers >= 2,
    null,
    { timeout: 20_000 },
  );
  const p = await stats(phone.page);
  assert.equal(p.roomCode, a.roomCode, "the server picked the room with players");
  assert.equal(p.me, null);
  assert.equal(await phone.page.isVisible("#stick-aim"), false, "no aim stick without an avatar");
  await phone.page.tap(`#leaderboard .lb-row[data-id="${a.playerId}"]`);
  await phone.page.waitForFunction((id) => window.skirmishStats().following === id, a.playerId, { timeout: 5_000 });
  await phone.page.screenshot({ path: join(shots, "watch-phone.png") });

  // The players never saw a third player: spectators take no seat.
  for (const { page } of [alice, bob]) assert.equal((await stats(page)).visiblePlayers, 2);
  assert.deepEqual([early, alice, bob, watcher, phone].flatMap((x) => x.record.errors), [], "no page errors");
});
