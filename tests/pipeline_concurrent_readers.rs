//! Concurrent readers while mapping (issue 8): the pipeline maps on its own
//! thread while two reader threads query the latest pose, map snapshot and
//! scene graph through a `PipelineReader`. Snapshots must be consistent
//! (never change while held, never go back in time) and the last one must
//! equal the pipeline's final map and graph.
//! `cargo test --release --test pipeline_concurrent_readers -- --nocapture`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use nalgebra::Point3;
use scenemap::config::Config;
use scenemap::pipeline::{MapSnapshot, Pipeline, PipelineReader};
use scenemap::scene_graph::SceneGraph;
use scenemap::sensor::synthetic::{SequenceConfig, SyntheticSequence, TrajectoryPreset};
use scenemap::sensor::Timestamp;

/// What one reader saw.
#[derive(Default)]
struct Observed {
    reads: usize,
    distinct_updates: Vec<usize>,
    first: Option<(MapSnapshot, Vec<u8>)>,
    queries_answered: usize,
}

fn read_until_done(reader: PipelineReader, done: Arc<AtomicBool>) -> Observed {
    let mut seen = Observed::default();
    let mut last_frames = 0;
    let mut last_time = Timestamp(i64::MIN);
    let mut last_snapshot_time = Timestamp(i64::MIN);
    loop {
        // Read `done` first: a last round of reads after it is set sees the
        // final published values.
        let finished = done.load(Ordering::Acquire);
        if let Some(live) = reader.live() {
            assert!(live.frames >= last_frames, "frame count went back");
            assert!(live.timestamp >= last_time, "live timestamp went back");
            assert!(live
                .world_from_camera
                .translation
                .vector
                .iter()
                .all(|v| v.is_finite()));
            last_frames = live.frames;
            last_time = live.timestamp;
        }
        if let Some(snapshot) = reader.snapshot() {
            assert!(
                snapshot.timestamp >= last_snapshot_time,
                "snapshot went back"
            );
            last_snapshot_time = snapshot.timestamp;
            if seen.distinct_updates.last() != Some(&snapshot.update) {
                assert!(seen.distinct_updates.last() < Some(&snapshot.update));
                seen.distinct_updates.push(snapshot.update);
                // A query a planner would make, on the snapshot's graph.
                let graph = &snapshot.scene_graph;
                let json = graph.to_json().unwrap();
                assert_eq!(
                    SceneGraph::from_json(&json, std::path::Path::new("<snapshot>"))
                        .unwrap()
                        .to_json()
                        .unwrap(),
                    json
                );
                if let Some(object) = graph.objects().next() {
                    let class = object.class_name.clone();
                    let (found, push) = graph
                        .where_and_how_hard(&class, &Point3::new(0.0, 0.0, 0.0), 0.5)
                        .expect("an object of a class in the graph is found");
                    assert_eq!(found.class_name, class);
                    push.unwrap();
                    seen.queries_answered += 1;
                }
                assert!(snapshot.map.block_count() > 0);
                if seen.first.is_none() {
                    let bytes = snapshot.map.to_map_bytes();
                    seen.first = Some((snapshot, bytes));
                }
            }
        }
        seen.reads += 1;
        if finished {
            return seen;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn readers_see_consistent_snapshots_while_the_pipeline_maps() {
    let frames = 120;
    let config = SequenceConfig {
        duration_s: (frames as f64 - 0.5) / 30.0,
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::furnished(7, TrajectoryPreset::Gentle, config).unwrap();
    let start = sequence.groundtruth()[0].world_from_camera;
    let config = Config::default()
        .with_scene_graph_every_n_frames(20)
        .with_background_scene_graph(true);
    let pipeline = Pipeline::new(config, *sequence.camera())
        .unwrap()
        .with_initial_pose(start);
    let reader = pipeline.reader();
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (reader, done) = (reader.clone(), Arc::clone(&done));
            thread::spawn(move || read_until_done(reader, done))
        })
        .collect();
    // The pipeline moves to the mapping thread (it is `Send`).
    let mapper = thread::spawn(move || {
        let mut pipeline = pipeline;
        for i in 0..sequence.frame_count() {
            let frame = sequence.render_frame(i).unwrap().frame;
            pipeline.process(&frame).unwrap();
        }
        pipeline.finish().unwrap();
        pipeline
    });
    let pipeline = mapper.join().unwrap();
    done.store(true, Ordering::Release);
    let observed: Vec<Observed> = readers.into_iter().map(|r| r.join().unwrap()).collect();

    let summary = pipeline.summary();
    assert_eq!(summary.frames, frames);
    assert_eq!(summary.lost_frames, 0);
    let live = reader.live().unwrap();
    assert_eq!(live.frames, frames);
    assert_eq!(
        live.timestamp,
        pipeline.trajectory().last().unwrap().timestamp
    );

    // The last snapshot is the pipeline's final map and graph.
    let last = reader.snapshot().expect("snapshots were published");
    assert_eq!(last.update, summary.scene_graph_updates);
    assert_eq!(last.map.to_map_bytes(), pipeline.map().to_map_bytes());
    assert_eq!(
        last.scene_graph.to_json().unwrap(),
        pipeline.scene_graph().to_json().unwrap()
    );
    assert!(pipeline.scene_graph().objects().count() > 0);

    for (k, seen) in observed.iter().enumerate() {
        println!(
            "reader {k}: {} reads, updates seen {:?}, {} push queries",
            seen.reads, seen.distinct_updates, seen.queries_answered
        );
        // Readers ran concurrently with mapping: they saw several updates
        // while the pipeline kept going.
        assert!(
            seen.distinct_updates.len() >= 2,
            "reader {k} saw {:?}",
            seen.distinct_updates
        );
        assert!(seen.queries_answered >= 1, "reader {k} answered no query");
        // A held snapshot never changed while mapping went on, and the
        // map moved on after it.
        let (first, bytes) = seen.first.as_ref().unwrap();
        assert_eq!(&first.map.to_map_bytes(), bytes, "a held snapshot changed");
        assert_ne!(bytes, &last.map.to_map_bytes(), "the map never changed");
    }
}
