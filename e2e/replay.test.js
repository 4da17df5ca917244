// End to end: the server records a match; the landing card lists it; the replay page plays, pauses,
// seeks and speeds it up with the live renderer; a file that is not a replay is refused in words.
// Run by scripts/test.sh after the release server and the client bundle are built.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { joinGame, openPage, shots, startServer, stats, tempDir } from "./support.js";

const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 };

/** The replay page's figures. */
const replay = async (page) => (await stats(page)).replay;

/** Waits until the page has drawn frames for `ms` more of its own clock (not a sleep: frames). */
async function framesFor(page, ms) {
  const from = (await stats(page)).frameMs;
  await page.waitForFunction((t) => window.skirmishStats().frameMs >= t, from + ms, { timeout: 10_000 });
}

test("a recorded match is listed, played, paused, sought and sped up", { timeout: 240_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const dir = tempDir("replays-own");
  const url = await startServer(["--replay-dir", dir, "--fill-bots", "4", "--spectator-delay-ms", "300"]);

  // A few seconds of a match: one page plays, bots fill the room and move about.
  const alice = await openPage("alice");
  await joinGame(alice.page, url, "alice");
  const { roomCode } = await stats(alice.page);
  await alice.page.keyboard.down("KeyD");
  const started = await stats(alice.page);
  await alice.page.waitForFunction((t) => window.skirmishStats().tick >= t + 8 * 30, started.tick, { timeout: 30_000 });
  await alice.page.keyboard.up("KeyD");

  const listed = await (await fetch(`${url}/api/replays`)).json();
  assert.ok(Array.isArray(listed.replays) && listed.replays.length >= 1, JSON.stringify(listed));
  const recording = listed.replays.find((r) => r.room === roomCode);
  assert.ok(recording, `the room's recording is listed: ${JSON.stringify(listed)}`);
  assert.ok(recording.players.includes("alice"), JSON.stringify(recording));

  // The landing card lists it; its link opens the replay page.
  const viewer = await openPage("viewer");
  await viewer.page.goto(url);
  await viewer.page.waitForFunction(() => typeof window.skirmishStats === "function");
  await viewer.page.click("#show-replays");
  const link = `#replay-list a[data-id="${recording.id}"]`;
  await viewer.page.waitForSelector(link, { timeout: 10_000 });
  assert.match(await viewer.page.textContent(link), new RegExp(roomCode));
  await viewer.page.screenshot({ path: join(shots, "replay-card-list.png") });
  await viewer.page.click(link);
  await viewer.page.waitForURL(`${url}/?replay=${recording.id}`);
  await viewer.page.waitForFunction(() => window.skirmishStats?.()?.replay?.state === "ready", null, { timeout: 20_000 });
  let r = await replay(viewer.page);
  assert.ok(r.frames > 20, `frames recorded: ${r.frames}`);
  assert.ok(r.endTick > r.startTick);
  assert.equal(r.playing, true, "a replay starts playing");
  const s = await stats(viewer.page);
  assert.equal(s.me, null, "a replay page has no avatar");
  assert.equal(s.spectator, true);
  assert.equal(await viewer.page.isVisible("#chat-input"), false, "and no chat field");
  // The timeline marks every kill the file holds.
  assert.equal(await viewer.page.locator("#replay-marks .kill-mark").count(), r.kills);
  console.log(`replay ${recording.id}: ${r.frames} frames, ticks ${r.startTick}-${r.endTick}, ${r.kills} kills`);

  // Playing: the clock and the view advance, and players are drawn.
  await viewer.page.waitForFunction((t) => window.skirmishStats().replay.tick > t, r.tick, { timeout: 5_000 });
  await viewer.page.waitForFunction(() => window.skirmishStats().others.length >= 2, null, { timeout: 5_000 });
  r = await replay(viewer.page);
  assert.ok(r.entities >= 2, `entities in view: ${r.entities}`);
  // Play on to a third of the way in, so there is somewhere to seek back to.
  await viewer.page.waitForFunction(
    ({ startTick, endTick }) => window.skirmishStats().replay.position > startTick + (endTick - startTick) / 3,
    r, { timeout: 20_000 });

  // Pause: the view stops changing while frames go on being drawn.
  await viewer.page.click("#replay-play");
  await viewer.page.waitForFunction(() => !window.skirmishStats().replay.playing, null, { timeout: 5_000 });
  const paused = await stats(viewer.page);
  await framesFor(viewer.page, 600);
  const still = await stats(viewer.page);
  assert.equal(still.replay.position, paused.replay.position, "the clock stands still");
  assert.equal(still.replay.tick, paused.replay.tick, "no frame is applied");
  assert.deepEqual(still.others, paused.others, "nobody moves");
  assert.match(await viewer.page.textContent("#status"), /paused/);

  // Seek by clicking the timeline near its start: the view jumps back, to the frame at or before
  // the tick asked for (the keyframe before it, then forward).
  const track = await viewer.page.locator("#replay-seek").boundingBox();
  await viewer.page.mouse.click(track.x + track.width * 0.1, track.y + track.height / 2);
  await viewer.page.waitForFunction((p) => window.skirmishStats().replay.position < p, paused.replay.position,
    { timeout: 5_000 });
  r = await replay(viewer.page);
  const span = r.endTick - r.startTick;
  assert.ok(Math.abs(r.position - (r.startTick + 0.1 * span)) < 0.05 * span, `sought to ${r.position} of ${JSON.stringify(r)}`);
  assert.ok(r.tick <= r.position && r.tick > r.position - 10, `the frame shown (${r.tick}) is the one at ${r.position}`);
  assert.equal(r.playing, false, "seeking keeps the pause");
  assert.ok(r.entities >= 2, "the view was rebuilt from a keyframe");
  // And forward, with the range input's keys-free path (its value, as a drag sets it).
  await viewer.page.$eval("#replay-seek", (el) => {
    el.value = "900";
    el.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await viewer.page.waitForFunction(
    (p) => window.skirmishStats().replay.position > p, r.startTick + 0.85 * span, { timeout: 5_000 });
  r = await replay(viewer.page);
  assert.ok(r.tick > r.startTick + 0.85 * span - 10, JSON.stringify(r));

  // Speed: the button steps through 0.25x to 4x; playing at 2x advances the clock.
  await viewer.page.$eval("#replay-seek", (el) => {
    el.value = "0";
    el.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await viewer.page.click("#replay-speed");
  await viewer.page.waitForFunction(() => window.skirmishStats().replay.speed === 2, null, { timeout: 5_000 });
  assert.equal((await viewer.page.textContent("#replay-speed")).trim(), "2×");
  for (const want of [4, 0.25, 0.5, 1, 2]) {
    await viewer.page.click("#replay-speed");
    await viewer.page.waitForFunction((v) => window.skirmishStats().replay.speed === v, want, { timeout: 5_000 });
  }
  // Space plays (the speed button still has the focus: it is not pressed again).
  await viewer.page.keyboard.press("Space");
  await viewer.page.waitForFunction(() => window.skirmishStats().replay.playing, null, { timeout: 5_000 });
  const playing = await replay(viewer.page);
  assert.equal(playing.speed, 2);
  await viewer.page.waitForFunction((p) => window.skirmishStats().replay.position > p + 30, playing.position,
    { timeout: 10_000 });

  // Follow a player from the leaderboard.
  const row = viewer.page.locator("#leaderboard .lb-row[data-id]").first();
  await row.waitFor({ timeout: 10_000 });
  const id = Number(await row.getAttribute("data-id"));
  await row.click();
  await viewer.page.waitForFunction((id) => window.skirmishStats().following === id, id, { timeout: 5_000 });
  await viewer.page.screenshot({ path: join(shots, "replay-desktop.png") });

  // On a phone.
  const phone = await openPage("phone-viewer", PHONE);
  await phone.page.goto(`${url}/?replay=${recording.id}`);
  await phone.page.waitForFunction(() => window.skirmishStats?.()?.replay?.state === "ready", null, { timeout: 20_000 });
  await phone.page.waitForFunction(() => window.skirmishStats().others.length >= 2, null, { timeout: 5_000 });
  assert.equal(await phone.page.isVisible("#replay-bar"), true);
  await phone.page.screenshot({ path: join(shots, "replay-phone.png") });

  // A file that is not a replay, and an id the server does not know: said in words on the card.
  const bad = "20261126-000000-BADXX-1";
  writeFileSync(join(dir, `${bad}.skreplay`), "<html>this is not a replay</html>");
  const other = await openPage("bad-replay");
  await other.page.goto(`${url}/?replay=${bad}`);
  await other.page.waitForFunction(() => window.skirmishStats?.()?.replay?.state === "failed", null, { timeout: 20_000 });
  const refused = await other.page.textContent("#join-message");
  assert.match(refused, /cannot be played: not a Skirmish replay/, refused);
  assert.equal(await other.page.isVisible("#join"), true, "the card offers Play and Watch instead");
  await other.page.screenshot({ path: join(shots, "replay-refused.png") });
  await other.page.goto(`${url}/?replay=no-such-replay`);
  await other.page.waitForFunction(() => window.skirmishStats?.()?.replay?.state === "failed", null, { timeout: 20_000 });
  assert.match(await other.page.textContent("#join-message"), /cannot be played: .*404/);

  assert.deepEqual([alice, viewer, phone, other].flatMap((x) => x.record.errors), [], "no page errors");
});
