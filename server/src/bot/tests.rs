use super::*;
use skirmish_shared::map::tile_centre;
use std::sync::Arc;

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

fn rate() -> TickRate {
    TickRate::new(60).expect("valid")
}

fn world() -> World {
    let map = Arc::new(Map::parse(MAP).expect("valid"));
    World::new(map, rate(), 7)
}

/// A world with a bot and a target placed on tiles, spawn protection waited out.
fn duel(bot_at: (i32, i32), target_at: (i32, i32)) -> (World, PlayerKey, PlayerKey) {
    let mut w = world();
    let bot = w.add_player("Bot Ada".into());
    let target = w.add_player("target".into());
    w.place_player(bot, tile_centre(bot_at.0, bot_at.1));
    w.place_player(target, tile_centre(target_at.0, target_at.1));
    for _ in 0..=w.rules().spawn_protection {
        w.tick(&[]);
    }
    (w, bot, target)
}

const VIEW_RADIUS: i32 = 640 * 16;

#[test]
fn it_aims_at_a_visible_target_and_fires_only_after_its_reaction_time() {
    let (mut w, bot, target) = duel((3, 4), (9, 4));
    let mut brain = BotBrain::new(rate(), 1);
    let target_id = w.players()[target].id;
    let mut first_shot = None;
    for t in 0..240u32 {
        if !w.players()[target].alive() {
            break;
        }
        let input = brain.think(&w, bot, VIEW_RADIUS);
        assert_eq!(brain.target(), Some(target_id), "the target is in sight");
        if input.fire() && first_shot.is_none() {
            first_shot = Some(t);
            // At the target (the bot strafes, so the line turns), within the aim error and the
            // firing tolerance.
            let (me, it) = (w.players()[bot].pos, w.players()[target].pos);
            let line = angle_of((it.x - me.x) as f32, (it.y - me.y) as f32);
            let off = angle_between(input.aim, line);
            assert!(off <= MAX_AIM_ERROR + FIRE_TOLERANCE, "aim {}", input.aim);
        }
        // The target stands still; only the bot acts.
        w.tick(&[(bot, input)]);
    }
    let first_shot = first_shot.expect("the bot fired at a target in plain sight");
    let reaction_min = rate().ticks_for_millis(REACTION_MIN_MS);
    assert!(
        first_shot >= reaction_min,
        "fired after {first_shot} ticks, before its reaction time"
    );
    assert!(
        w.players()[target].hp < crate::world::MAX_HP || w.players()[target].score.deaths > 0,
        "a still target in the open is hit sooner or later"
    );
}

#[test]
fn it_leads_a_moving_target() {
    let params = MoveParams::new(rate());
    let from = tile_centre(3, 4);
    let target = tile_centre(9, 4);
    // Still: straight at it.
    assert!(angle_between(lead_aim(&params, from, target, Dir::Still), 0) <= 2);
    // Moving south (+y) across the line of fire: aim ahead of it, below the line. The lead is
    // asin(player speed / projectile speed) = asin(1/3), about 19.5 degrees = 3,550.
    let lead = lead_aim(&params, from, target, Dir::South);
    assert!((3_000..4_200).contains(&lead), "lead {lead}");
    let back = lead_aim(&params, from, target, Dir::North);
    assert!(
        (65_536 - 4_200..65_536 - 3_000).contains(&u32::from(back)),
        "lead {back}"
    );
    // The brain leads too: a target walking south is aimed below the line.
    let (mut w, bot, target) = duel((3, 2), (9, 2));
    let mut brain = BotBrain::new(rate(), 2);
    let mut aims = Vec::new();
    for _ in 0..40 {
        let south = InputFrame {
            seq: 1,
            move_y: 1,
            ..InputFrame::default()
        };
        let input = brain.think(&w, bot, VIEW_RADIUS);
        if brain.target().is_some() {
            aims.push(input.aim as i16 as i32);
        }
        w.tick(&[(bot, input), (target, south)]);
    }
    let last = *aims.last().expect("the target stayed in sight");
    // Below the line to the target (which moves too), by more than the aim error alone.
    let to_target = {
        let (me, it) = (w.players()[bot].pos, w.players()[target].pos);
        angle_of((it.x - me.x) as f32, (it.y - me.y) as f32) as i16 as i32
    };
    assert!(
        last - to_target > 3_000 - MAX_AIM_ERROR - 2_200,
        "aim {last} against the line {to_target}"
    );
}

#[test]
fn it_does_not_see_through_walls() {
    // The wall column at x = 12 stands between them.
    let (w, bot, _) = duel((10, 2), (14, 2));
    assert!(!clear_line(w.map(), tile_centre(10, 2), tile_centre(14, 2)));
    assert!(clear_line(w.map(), tile_centre(10, 5), tile_centre(14, 5)));
    let mut brain = BotBrain::new(rate(), 3);
    let input = brain.think(&w, bot, VIEW_RADIUS);
    assert_eq!(brain.target(), None);
    assert!(!input.fire());
    // Nor beyond its view radius.
    let (w, bot, _) = duel((2, 5), (17, 5));
    let mut brain = BotBrain::new(rate(), 3);
    brain.think(&w, bot, 5 * TILE_SIZE);
    assert_eq!(brain.target(), None);
}

#[test]
fn paths_go_around_walls_over_floor() {
    let w = world();
    let path = find_path(w.map(), (10, 2), (14, 2));
    assert_eq!(path.back(), Some(&(14, 2)));
    assert!(path.len() > 4, "around the wall, not through it: {path:?}");
    let mut at = (10, 2);
    for &tile in &path {
        assert!(!w.map().is_solid(tile.0, tile.1));
        assert_eq!(
            (tile.0 - at.0).abs() + (tile.1 - at.1).abs(),
            1,
            "edge neighbours"
        );
        at = tile;
    }
    assert!(
        find_path(w.map(), (10, 2), (12, 2)).is_empty(),
        "no path into a wall"
    );
}

#[test]
fn it_dodges_a_projectile_coming_at_it() {
    // A shooter three tiles west fires east at the bot standing in its line.
    let (mut w, bot, shooter) = duel((9, 4), (6, 4));
    let fire = InputFrame {
        seq: 1,
        buttons: buttons::FIRE,
        ..InputFrame::default()
    };
    w.tick(&[(shooter, fire)]);
    w.tick(&[]);
    let bot_id = w.players()[bot].id;
    let mut brain = BotBrain::new(rate(), 1);
    brain.alert = true;
    let (x, y) = brain
        .dodge(&w, bot_id, w.players()[bot].pos)
        .expect("a projectile coming straight at it");
    assert!(
        x.abs() < 0.01 && y.abs() > 0.99,
        "across the line: {x}, {y}"
    );
    // Its own projectiles, and any when it is not alert, are no threat.
    let shooter_id = w.players()[shooter].id;
    assert!(brain.dodge(&w, shooter_id, w.players()[bot].pos).is_none());
    brain.alert = false;
    assert!(brain.dodge(&w, bot_id, w.players()[bot].pos).is_none());
    // Behind the shot, nothing comes at it.
    brain.alert = true;
    assert!(brain.dodge(&w, bot_id, tile_centre(2, 4)).is_none());
}

#[test]
fn bots_brawl_with_valid_inputs_and_fight_it_out() {
    let mut w = world();
    let keys: Vec<PlayerKey> = (0..6).map(|i| w.add_player(format!("Bot {i}"))).collect();
    let mut brains: Vec<BotBrain> = (0..6).map(|i| BotBrain::new(rate(), 100 + i)).collect();
    let start: Vec<Pos> = keys.iter().map(|&k| w.players()[k].pos).collect();
    let mut moved = vec![false; keys.len()];
    let mut last_seq = vec![0; keys.len()];
    let mut kills = 0;
    for _ in 0..3_600 {
        let inputs: Vec<(PlayerKey, InputFrame)> = keys
            .iter()
            .zip(&mut brains)
            .map(|(&key, brain)| (key, brain.think(&w, key, VIEW_RADIUS)))
            .collect();
        for (i, (_, input)) in inputs.iter().enumerate() {
            assert!(input.is_valid(), "{input:?}");
            assert!(input.seq > last_seq[i], "sequence numbers grow");
            last_seq[i] = input.seq;
        }
        for event in w.tick(&inputs) {
            if matches!(event, crate::world::WorldEvent::Kill { .. }) {
                kills += 1;
            }
        }
        for (i, &key) in keys.iter().enumerate() {
            moved[i] |= w.players()[key].pos != start[i];
        }
    }
    assert!(moved.iter().all(|&m| m), "every bot moved: {moved:?}");
    assert!(
        kills > 0,
        "a minute of six bots in a small arena kills someone"
    );
    // Beatable: a fair share of their shots miss (at most 2 of 3 hit), yet they are no pushovers.
    let shots = w.shot_counts();
    let ratio = shots.hits as f64 / shots.fired.max(1) as f64;
    eprintln!(
        "{kills} kills, {} shots, {} hits ({ratio:.2})",
        shots.fired, shots.hits
    );
    assert!((0.05..0.67).contains(&ratio), "hit ratio {ratio:.2}");
}
