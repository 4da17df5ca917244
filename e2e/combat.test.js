// End to end: a kill seen from three sides. Alice shoots bob until he falls; bob sees the death
// screen (who, a countdown) and respawns; alice gets hit markers and the kill confirmation; carol,
// watching, sees it in the kill feed, and the chat stays for chat.
// Run by scripts/test.sh after `cargo build --release -p skirmish-server` and the client bundle build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { joinGame, openPage, root, shots, startServer, stats } from "./support.js";

/** An open room whose three spawn points are in sight and in range of each other. */
const DUEL_MAP = join(root, "e2e", "maps", "duel.map");

/** Points `page`'s mouse at the world point `target` (the own avatar is at the screen centre). */
async function aimAt(page, target) {
  const s = await stats(page);
  const { width, height } = page.viewportSize();
  const x = width / 2 + (target.x - s.me.x) * s.zoom;
  const y = height / 2 + (target.y - s.me.y) * s.zoom;
  await page.mouse.move(x, y);
  return { x, y };
}

test("a kill is seen by the victim, the shooter and a watcher", { timeout: 180_000 }, async () => {
  mkdirSync(shots, { recursive: true });
  const url = await startServer(["--map", DUEL_MAP]);
  const alice = await openPage("alice");
  const bob = await openPage("bob");
  const carol = await openPage("carol");
  await joinGame(alice.page, url, "alice");
  await joinGame(bob.page, url, "bob");
  await joinGame(carol.page, url, "carol");
  for (const { page } of [alice, bob, carol]) {
    await page.waitForFunction(() => window.skirmishStats().visiblePlayers >= 3, null, { timeout: 20_000 });
  }
  const before = { alice: await stats(alice.page), bob: await stats(bob.page), carol: await stats(carol.page) };

  // The HUD: hit points, the whole interest circle on screen, the room's head count, alive.
  for (const [name, s] of Object.entries(before)) {
    assert.equal(s.hp, 100, `${name} starts with full hit points`);
    assert.equal(s.dead, null, `${name} is alive`);
    assert.ok(s.zoom > 0 && 2 * 640 * s.zoom <= 700, `${name}'s zoom fits the view radius: ${s.zoom}`);
    assert.equal(s.roomPlayers, 3, `${name}'s room has three players`);
    assert.equal(typeof s.muted, "boolean");
    assert.ok("roomCode" in s && Array.isArray(s.killFeed), JSON.stringify(s));
  }
  assert.match(await bob.page.textContent("#hp"), /100/, "the HUD shows bob's hit points");
  const board = await carol.page.textContent("#leaderboard");
  for (const name of ["alice", "bob", "carol"]) assert.ok(board.includes(name), `the leaderboard lists ${name}: ${board}`);
  assert.match(board, /3 here/, `the leaderboard counts the room: ${board}`);

  // Alice aims at bob and holds fire until he falls (spawn protection lasts 1.5 s after joining).
  const bobAt = before.bob.me;
  await alice.page.bringToFront();
  await aimAt(alice.page, bobAt);
  await alice.page.mouse.down();
  const hurt = await bob.page.waitForFunction(() => {
    const s = window.skirmishStats();
    return s.hp !== null && s.hp < 100 ? s.hp : null;
  }, null, { timeout: 20_000, polling: 16 });
  console.log(`bob was hit: ${await hurt.jsonValue()} hit points left`);
  await bob.page.screenshot({ path: join(shots, "combat-1-bob-hurt.png") });
  // Every text the spawn-protection hint shows from now on (it may come and go between two polls
  // on a loaded machine).
  await bob.page.evaluate(() => {
    const hint = document.getElementById("spawn-hint");
    window.hintTexts = [];
    new MutationObserver(() => window.hintTexts.push(hint.textContent)).observe(hint, {
      childList: true, characterData: true, subtree: true,
    });
  });
  // Bob's death screen names alice and counts down to the respawn (read in one go: the respawn
  // comes 2 s later).
  const death = await (await bob.page.waitForFunction(() => {
    const s = window.skirmishStats();
    const text = document.getElementById("death")?.textContent ?? "";
    return s.dead && /alice/.test(text) ? { dead: s.dead, text, me: s.me } : null;
  }, null, { timeout: 20_000, polling: 16 })).jsonValue();
  await alice.page.mouse.up();
  await bob.page.screenshot({ path: join(shots, "combat-2-bob-death-screen.png") });
  assert.equal(death.dead.killer, before.alice.playerId, `bob's killer is alice: ${JSON.stringify(death.dead)}`);
  assert.ok(death.dead.respawnInMs > 0 && death.dead.respawnInMs <= 2_000, `a countdown: ${JSON.stringify(death.dead)}`);
  assert.match(death.text, /Eliminated by alice/, death.text);
  assert.match(death.text, /Respawning in \d+\.\d s/, death.text);
  // The camera stays where bob fell.
  assert.ok(Math.hypot(death.me.x - bobAt.x, death.me.y - bobAt.y) < 1, `bob fell where he stood: ${JSON.stringify(death.me)}`);

  // Alice: hit markers and the kill confirmation.
  await alice.page.waitForFunction(() => window.skirmishStats().killsConfirmed >= 1, null, { timeout: 5_000 });
  await alice.page.screenshot({ path: join(shots, "combat-3-alice-kill-confirmed.png") });
  const shooter = await stats(alice.page);
  assert.ok(shooter.hitMarkers >= 1, `alice saw hit markers: ${shooter.hitMarkers}`);
  assert.match(await alice.page.textContent("#kill-banner"), /Eliminated bob/);

  // Carol, watching: the kill feed shows it; the chat does not.
  await carol.page.waitForFunction(
    () => window.skirmishStats().killFeed.some((l) => l.killer === "alice" && l.victim === "bob"),
    null,
    { timeout: 5_000 },
  );
  assert.match(await carol.page.textContent("#killfeed"), /alice ▸ bob/);
  const chat = await carol.page.textContent("#chat-log");
  assert.ok(!/eliminated/i.test(chat), `kills stay out of the chat: ${chat}`);
  await carol.page.screenshot({ path: join(shots, "combat-4-carol-kill-feed.png") });

  // Bob respawns: the death screen goes, full hit points, spawn protection with its hint.
  await bob.page.waitForFunction(() => window.skirmishStats().dead === null, null, { timeout: 10_000, polling: 16 });
  const back = await stats(bob.page);
  assert.equal(back.hp, 100, "bob is back with full hit points");
  assert.ok(await bob.page.isHidden("#death"), "the death screen is gone");
  await bob.page.waitForFunction(() => window.hintTexts.some((t) => /Protected for/.test(t)), null, {
    timeout: 5_000,
  });
  const hints = await bob.page.evaluate(() => window.hintTexts.filter((t) => t));
  assert.match(hints[0], /^Protected for \d\.\d s — firing ends it$/, JSON.stringify(hints));
  await bob.page.screenshot({ path: join(shots, "combat-5-bob-respawned.png") });
  // Firing ends protection, and the hint goes with it.
  await bob.page.keyboard.down("Space");
  await bob.page.waitForFunction(() => !window.skirmishStats().spawnHint, null, { timeout: 2_000, polling: 16 });
  await bob.page.keyboard.up("Space");

  // The leaderboard counts alice's kill and bob's death.
  await carol.page.waitForFunction(
    () => /alice\s*1\s*0/.test(document.getElementById("leaderboard").innerText.replace(/\n/g, " ")),
    null,
    { timeout: 5_000 },
  );
  // M mutes, on screen and remembered by the browser; a server without /api/rooms leaves the
  // server's count unknown rather than failing.
  await carol.page.keyboard.press("KeyM");
  await carol.page.waitForFunction(() => window.skirmishStats().muted, null, { timeout: 2_000 });
  assert.equal(await carol.page.evaluate(() => localStorage.getItem("skirmish.muted")), "1");
  assert.match(await carol.page.textContent("#mute"), /Sound off/);
  const counts = await stats(carol.page);
  assert.ok(counts.serverPlayers === null || counts.serverPlayers >= 3, `server count: ${counts.serverPlayers}`);
  for (const page of [alice, bob, carol]) assert.deepEqual(page.record.errors, [], "no page errors");
});
