use super::*;
use skirmish_shared::map::{tile_centre, TILE_SIZE};
use skirmish_shared::physics::PLAYER_HALF_SIZE;
use skirmish_shared::protocol::buttons;

/// 20 x 8 tiles, open inside, a wall column at x = 12 in rows 1..=3, spawns in the corners.
const MAP: &str = "\
####################
#S..........#.....S#
#...........#......#
#...........#......#
#..................#
#..................#
#S................S#
####################
";

fn world() -> World {
    let map = Arc::new(Map::parse(MAP).expect("valid"));
    World::new(map, TickRate::new(60).expect("valid"), 7)
}

fn input(seq: u32, x: i8, y: i8, aim: u16, fire: bool) -> InputFrame {
    InputFrame {
        seq,
        move_x: x,
        move_y: y,
        aim,
        buttons: if fire { buttons::FIRE } else { 0 },
    }
}

/// Runs `ticks` ticks with the same inputs.
fn run(world: &mut World, inputs: &[(PlayerKey, InputFrame)], ticks: u32) -> Vec<WorldEvent> {
    let mut events = Vec::new();
    for _ in 0..ticks {
        events.extend_from_slice(world.tick(inputs));
    }
    events
}

#[test]
fn players_move_and_keep_motion_keys_true() {
    let mut w = world();
    let a = w.add_player("a".into());
    w.place_player(a, tile_centre(3, 4));
    let start = w.players[a].pos;
    run(&mut w, &[(a, input(1, 1, 0, 0, false))], 10);
    let p = &w.players[a];
    assert_eq!(p.pos, Pos::new(start.x + 10 * 64, start.y));
    assert_eq!(p.motion.dir, Dir::East);
    assert_eq!(
        p.motion.position_at(w.map(), w.params(), w.tick_number()),
        p.pos
    );
    // Holding the same direction does not renew the key; turning does.
    let key_before = p.motion;
    run(&mut w, &[], 5);
    assert_eq!(
        w.players[a].motion, key_before,
        "a held input keeps the key"
    );
    run(&mut w, &[(a, input(2, 0, 1, 0, false))], 3);
    let p = &w.players[a];
    assert_ne!(p.motion, key_before);
    assert_eq!(
        p.changed.motion,
        p.motion.tick.next(),
        "a turn keys from the tick before"
    );
    assert!(p.motion_is_turn);
    assert_eq!(
        p.motion.position_at(w.map(), w.params(), w.tick_number()),
        p.pos
    );
}

#[test]
fn walls_stop_players() {
    let mut w = world();
    let a = w.add_player("a".into());
    w.place_player(a, tile_centre(10, 2));
    run(&mut w, &[(a, input(1, 1, 0, 0, false))], 60);
    assert_eq!(w.players[a].pos.x, 12 * TILE_SIZE - PLAYER_HALF_SIZE);
    run(&mut w, &[(a, input(2, 0, -1, 0, false))], 60);
    assert_eq!(w.players[a].pos.y, TILE_SIZE + PLAYER_HALF_SIZE);
    assert!(!skirmish_shared::physics::player_overlaps_wall(
        w.map(),
        w.players[a].pos
    ));
}

#[test]
fn projectiles_hit_kill_score_and_respawn() {
    let mut w = world();
    let shooter = w.add_player("shooter".into());
    let target = w.add_player("target".into());
    w.place_player(shooter, tile_centre(2, 5));
    w.place_player(target, tile_centre(8, 5));
    // Let spawn protection run out.
    let protection = w.rules().spawn_protection;
    run(&mut w, &[], protection + 1);
    assert_eq!(w.players[target].status, 0);
    let fire_east = [(shooter, input(1, 0, 0, 0, true))];
    let mut events = Vec::new();
    let mut ticks = 0;
    while w.players[target].alive() && ticks < 600 {
        events.extend_from_slice(w.tick(&fire_east));
        ticks += 1;
    }
    let victim = &w.players[target];
    assert!(!victim.alive(), "four hits kill");
    assert_eq!(victim.hp, 0);
    assert_eq!(victim.score.deaths, 1);
    assert_eq!(w.players[shooter].score.kills, 1);
    assert_eq!(w.players[shooter].score.score, 1);
    let (shooter_id, target_id) = (w.players[shooter].id, victim.id);
    assert!(events.contains(&WorldEvent::Kill {
        killer: Some(shooter_id),
        victim: target_id
    }));
    assert!(events.contains(&WorldEvent::ScoreChanged(shooter)));
    // Four hits at 250 ms cooldown: between 3 and 4 cooldowns plus flight time.
    assert!(ticks >= 3 * w.rules().fire_cooldown, "took {ticks} ticks");
    // The dead do not move, and respawn at full health after the delay.
    let died_at = victim.pos;
    let delay = w.rules().respawn_delay;
    run(&mut w, &[(target, input(1, 1, 0, 0, false))], delay - 1);
    assert_eq!(w.players[target].pos, died_at);
    assert!(!w.players[target].alive());
    run(&mut w, &[(target, input(2, 0, 0, 0, false))], 1);
    let back = &w.players[target];
    assert!(back.alive());
    assert_eq!(back.hp, MAX_HP);
    assert_eq!(back.status, status::PROTECTED);
    assert!(w.map().spawns().contains(&back.motion.pos));
}

#[test]
fn projectiles_stop_at_walls_and_fade() {
    let mut w = world();
    let a = w.add_player("a".into());
    w.place_player(a, tile_centre(10, 2));
    // Aim east into the wall column at x = 12.
    w.tick(&[(a, input(1, 0, 0, 0, true))]);
    assert_eq!(w.projectiles().len(), 1);
    run(&mut w, &[(a, input(2, 0, 0, 0, false))], 10);
    assert!(w.projectiles().is_empty(), "the wall stopped it");
    let cooldown = w.rules().fire_cooldown;
    run(&mut w, &[], cooldown);
    // Aim west across open floor: it fades after its lifetime, before reaching anything.
    w.place_player(a, tile_centre(18, 5));
    let west = 32_768;
    w.tick(&[(a, input(3, 0, 0, west, true))]);
    assert_eq!(w.projectiles().len(), 1);
    let lifetime = w.rules().projectile_lifetime;
    run(&mut w, &[(a, input(4, 0, 0, west, false))], lifetime - 1);
    assert!(w.projectiles().is_empty() || w.projectiles().iter().all(|(_, p)| p.pos.x > TILE_SIZE));
    run(&mut w, &[], 2);
    assert!(w.projectiles().is_empty());
}

#[test]
fn spawn_protection_blocks_hits_and_ends_on_fire() {
    let mut w = world();
    let shooter = w.add_player("s".into());
    let target = w.add_player("t".into());
    w.place_player(shooter, tile_centre(2, 5));
    w.place_player(target, tile_centre(4, 5));
    run(&mut w, &[(shooter, input(1, 0, 0, 0, true))], 20);
    assert_eq!(w.players[target].hp, MAX_HP, "protected");
    assert_eq!(
        w.players[shooter].status & status::PROTECTED,
        0,
        "firing ended protection"
    );
}

#[test]
fn respawns_avoid_occupied_spawn_points() {
    let mut w = world();
    let keys: Vec<_> = (0..3).map(|i| w.add_player(format!("p{i}"))).collect();
    let positions: Vec<Pos> = keys.iter().map(|&k| w.players[k].pos).collect();
    for (i, a) in positions.iter().enumerate() {
        for b in &positions[i + 1..] {
            assert_ne!(a, b, "each join takes a free spawn point");
        }
    }
}

#[test]
fn the_same_seed_and_inputs_replay_the_same_game() {
    let play = || {
        let mut w = world();
        let a = w.add_player("a".into());
        let b = w.add_player("b".into());
        for t in 0..600u32 {
            let aim = (t * 997) as u16;
            let x = (t / 40 % 3) as i8 - 1;
            w.tick(&[
                (a, input(t, x, 1, aim, true)),
                (b, input(t, -x, -1, aim ^ 0x8000, true)),
            ]);
        }
        let p = |k: PlayerKey| (w.players[k].pos, w.players[k].hp, w.players[k].score);
        (p(a), p(b), w.projectiles().len())
    };
    assert_eq!(play(), play());
}

#[test]
fn removed_shooters_credit_no_one() {
    let mut w = world();
    let shooter = w.add_player("s".into());
    let target = w.add_player("t".into());
    w.place_player(shooter, tile_centre(2, 5));
    w.place_player(target, tile_centre(3, 5));
    let protection = w.rules().spawn_protection;
    run(&mut w, &[], protection + 1);
    w.players[target].hp = PROJECTILE_DAMAGE;
    w.tick(&[(shooter, input(1, 0, 0, 0, true))]);
    w.remove_player(shooter);
    let events = run(&mut w, &[], 10);
    let target_id = w.players[target].id;
    assert!(events.contains(&WorldEvent::Kill {
        killer: None,
        victim: target_id
    }));
}
