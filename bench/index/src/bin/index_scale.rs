//! Scale benchmark of `reko-index` on synthetic clustered face embeddings: build time and insert
//! throughput, single-threaded search latency (p50/p99) and recall@10 against exact search for a sweep
//! of `ef_search`, memory per face (`memory_bytes` and the RSS delta), and snapshot save/load times.
//! An ef given more than once in `--ef` is swept again: the run then prints how many of each repeat's
//! slowest 1% of queries were slow in the first sweep too (the graph's tail or the machine's?) and the
//! p50/p99 of each query's fastest time over those sweeps.
//!
//! ```text
//! cd bench && cargo run --release -p reko-bench-index --bin index_scale -- --faces 1000000
//! ```
//! Options: `--faces N` (default 1 000 000), `--queries N` (1000), `--dim N` (192), `--connectivity M`
//! (16), `--expansion-add N` (128), `--ef 16,32,64,...` (the ef_search sweep), `--quantization i8|f16|f32`
//! (i8), `--threads N` (build threads, 0 = one per core), `--snapshot PATH` (default in the temp dir),
//! `--kernels` (only the dot-product micro-benchmark), `--real-statistics FILE` (the second kind of data),
//! `--keep-snapshot` (leave the snapshot file), `--reuse-snapshot` (load the index from a kept snapshot of
//! the same data and options instead of building it: for more `--ef` sweeps), `--chunk N` (build in
//! `insert_batch` calls of N faces, printing the rate of each), `--checkpoint` (save the index after each
//! chunk to the snapshot path with the extension `partial`, and resume from that file when it is there:
//! a 10 M build outlives a working session).
//!
//! Two kinds of data, both identities with 1 to 19 photos each (10 on average), queried with a fresh photo
//! of a random identity, so that a query's top 10 holds that identity's photos and, for identities with
//! fewer than 10, the nearest strangers: the hard part.
//!
//! * **Isotropic** (the default): 1 000 "look-alike groups" whose identities sit at about 0.5 cosine to
//!   their group's centre, each photo at 0.6 to 0.8 cosine to its identity, the noise spread evenly over
//!   all dimensions. Harder than real embeddings, whose variance sits in far fewer directions.
//! * **Real statistics** (`--real-statistics FILE`, written by `reko eval lfw --dump-embeddings FILE`):
//!   identities drawn from a Gaussian with the mean and between-person covariance of real reko embeddings
//!   of LFW, photos around them with the real within-person covariance, then normalised. The run prints
//!   the same-person and different-person cosines of the real and the generated data side by side.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reko_index::{IndexConfig, Quantization, VectorIndex, dot, dot_scalar};

struct Options {
    faces: usize,
    queries: usize,
    dim: usize,
    connectivity: usize,
    expansion_add: usize,
    ef: Vec<usize>,
    quantization: Quantization,
    threads: usize,
    snapshot: std::path::PathBuf,
    kernels_only: bool,
    real_statistics: Option<std::path::PathBuf>,
    keep_snapshot: bool,
    reuse_snapshot: bool,
    chunk: usize,
    checkpoint: bool,
}

fn options() -> Options {
    let mut options = Options {
        faces: 1_000_000,
        queries: 1000,
        dim: 192,
        connectivity: 16,
        expansion_add: 128,
        ef: vec![16, 24, 32, 48, 64, 96, 128],
        quantization: Quantization::I8,
        threads: 0,
        snapshot: std::env::temp_dir().join("reko-index-scale.snapshot"),
        kernels_only: false,
        real_statistics: None,
        keep_snapshot: false,
        reuse_snapshot: false,
        chunk: 0,
        checkpoint: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} takes a value"));
        match flag.as_str() {
            "--faces" => options.faces = value().parse().expect("--faces"),
            "--queries" => options.queries = value().parse().expect("--queries"),
            "--dim" => options.dim = value().parse().expect("--dim"),
            "--connectivity" => options.connectivity = value().parse().expect("--connectivity"),
            "--expansion-add" => options.expansion_add = value().parse().expect("--expansion-add"),
            "--ef" => options.ef = value().split(',').map(|ef| ef.parse().expect("--ef")).collect(),
            "--threads" => options.threads = value().parse().expect("--threads"),
            "--snapshot" => options.snapshot = value().into(),
            "--quantization" => {
                options.quantization = match value().as_str() {
                    "i8" => Quantization::I8,
                    "f16" => Quantization::F16,
                    "f32" => Quantization::F32,
                    other => panic!("unknown quantization {other}"),
                }
            }
            "--kernels" => options.kernels_only = true,
            "--real-statistics" => options.real_statistics = Some(value().into()),
            "--keep-snapshot" => options.keep_snapshot = true,
            "--reuse-snapshot" => options.reuse_snapshot = true,
            "--chunk" => options.chunk = value().parse().expect("--chunk"),
            "--checkpoint" => options.checkpoint = true,
            other => panic!("unknown option {other}"),
        }
    }
    options
}

/// xorshift64*, with roughly normal draws (the sum of four uniforms).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn normal(&mut self) -> f32 {
        ((0..4).map(|_| self.uniform()).sum::<f32>() - 2.0) * 3.0f32.sqrt()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn normalise(v: &mut [f32]) {
    let norm = dot_scalar(v, v).sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
}

fn random_unit(rng: &mut Rng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
    normalise(&mut v);
    v
}

/// A unit vector at about `cosine` to the unit vector `centre` (in high dimension, where random noise is
/// nearly orthogonal to it).
fn around(rng: &mut Rng, centre: &[f32], cosine: f32) -> Vec<f32> {
    let spread = (1.0 / (cosine * cosine) - 1.0).sqrt() / (centre.len() as f32).sqrt();
    let mut v: Vec<f32> = centre.iter().map(|c| c + spread * rng.normal()).collect();
    normalise(&mut v);
    v
}

struct Data {
    dim: usize,
    /// Row-major, `faces * dim`.
    vectors: Vec<f32>,
    queries: Vec<Vec<f32>>,
}

fn generate(faces: usize, queries: usize, dim: usize) -> Data {
    let mut rng = Rng(0x5EED_FACE);
    let groups: Vec<Vec<f32>> = (0..1000).map(|_| random_unit(&mut rng, dim)).collect();
    let mut identities: Vec<Vec<f32>> = Vec::new();
    let mut vectors = Vec::with_capacity(faces * dim);
    while vectors.len() < faces * dim {
        let group = rng.below(groups.len());
        let identity = around(&mut rng, &groups[group], 0.5);
        for _ in 0..1 + rng.below(19) {
            if vectors.len() < faces * dim {
                let cosine = 0.6 + 0.2 * rng.uniform();
                vectors.extend(around(&mut rng, &identity, cosine));
            }
        }
        identities.push(identity);
    }
    let queries = (0..queries)
        .map(|_| {
            let cosine = 0.6 + 0.2 * rng.uniform();
            let identity = rng.below(identities.len());
            around(&mut rng, &identities[identity], cosine)
        })
        .collect();
    Data { dim, vectors, queries }
}

/// The mean and the lower Cholesky factors (row-major, `dim × dim`) of the between-person and
/// within-person covariances of real embeddings.
struct RealStatistics {
    mean: Vec<f64>,
    between: Vec<f64>,
    within: Vec<f64>,
    /// (same-person cosines, different-person cosines) among the real embeddings.
    real_cosines: (Vec<f32>, Vec<f32>),
}

/// Lower Cholesky factor of the symmetric `dim × dim` matrix `a`; `None` if it is not positive definite.
fn cholesky(a: &[f64], dim: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i * dim + k] * l[j * dim + k]).sum();
            if i == j {
                let d = a[i * dim + i] - sum;
                if d <= 0.0 {
                    return None;
                }
                l[i * dim + i] = d.sqrt();
            } else {
                l[i * dim + j] = (a[i * dim + j] - sum) / l[j * dim + j];
            }
        }
    }
    Some(l)
}

fn real_statistics(path: &std::path::Path, dim: usize) -> RealStatistics {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut people: std::collections::BTreeMap<&str, Vec<Vec<f64>>> = Default::default();
    for line in text.lines() {
        let (person, values) = line.split_once('\t').expect("person<TAB>values");
        let v: Vec<f64> = values.split(',').map(|x| x.parse().expect("a number")).collect();
        assert_eq!(v.len(), dim, "embedding size");
        people.entry(person).or_default().push(v);
    }
    let mean_of = |rows: &[Vec<f64>]| -> Vec<f64> {
        (0..dim).map(|d| rows.iter().map(|r| r[d]).sum::<f64>() / rows.len() as f64).collect()
    };
    let means: Vec<Vec<f64>> = people.values().map(|rows| mean_of(rows)).collect();
    let mean = mean_of(&means);
    let mut between = vec![0.0; dim * dim];
    let mut within = vec![0.0; dim * dim];
    let (mut within_n, mut inverse_sizes) = (0usize, 0.0);
    let add = |m: &mut [f64], x: &[f64], centre: &[f64]| {
        for i in 0..dim {
            for j in 0..dim {
                m[i * dim + j] += (x[i] - centre[i]) * (x[j] - centre[j]);
            }
        }
    };
    for (rows, person_mean) in people.values().zip(&means) {
        add(&mut between, person_mean, &mean);
        inverse_sizes += 1.0 / rows.len() as f64;
        if rows.len() > 1 {
            rows.iter().for_each(|r| add(&mut within, r, person_mean));
            within_n += rows.len() - 1;
        }
    }
    within.iter_mut().for_each(|x| *x /= within_n as f64);
    // A person's mean photo still carries within-person noise (1/n of it): take that out of the
    // between-person covariance, as far as it stays positive definite.
    let observed: Vec<f64> = between.iter().map(|x| x / (people.len() - 1) as f64).collect();
    let noise = inverse_sizes / people.len() as f64;
    let jitter = |m: &[f64]| -> Vec<f64> {
        let mut m = m.to_vec();
        (0..dim).for_each(|i| m[i * dim + i] += 1e-6);
        m
    };
    let between = (0..=10)
        .rev()
        .find_map(|tenths| {
            let f = noise * tenths as f64 / 10.0;
            let corrected: Vec<f64> = observed.iter().zip(&within).map(|(b, w)| b - f * w).collect();
            cholesky(&jitter(&corrected), dim)
        })
        .expect("the between-person covariance is positive definite");
    let within = cholesky(&jitter(&within), dim).expect("the within-person covariance is positive definite");
    let unit = |v: &[f64]| -> Vec<f32> {
        let mut v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        normalise(&mut v);
        v
    };
    let rows: Vec<(usize, Vec<f32>)> =
        people.values().enumerate().flat_map(|(p, rows)| rows.iter().map(move |r| (p, unit(r)))).collect();
    let (mut same, mut different) = (Vec::new(), Vec::new());
    let mut pairs = 0usize;
    for (i, (pa, a)) in rows.iter().enumerate() {
        for (pb, b) in &rows[i + 1..] {
            if pa == pb {
                same.push(dot_scalar(a, b));
            } else {
                pairs += 1;
                if pairs.is_multiple_of(97) {
                    different.push(dot_scalar(a, b));
                }
            }
        }
    }
    println!(
        "real statistics from {}: {} people, {} embeddings, within-person noise share {noise:.2}",
        path.display(),
        people.len(),
        rows.len()
    );
    RealStatistics { mean, between, within, real_cosines: (same, different) }
}

impl RealStatistics {
    /// `centre + L z` for a standard normal `z`.
    fn draw(&self, rng: &mut Rng, centre: &[f64], l: &[f64]) -> Vec<f64> {
        let dim = centre.len();
        let z: Vec<f64> = (0..dim).map(|_| f64::from(rng.normal())).collect();
        (0..dim).map(|i| centre[i] + (0..=i).map(|k| l[i * dim + k] * z[k]).sum::<f64>()).collect()
    }

    fn identity(&self, rng: &mut Rng) -> Vec<f64> {
        self.draw(rng, &self.mean, &self.between)
    }

    fn photo(&self, rng: &mut Rng, identity: &[f64]) -> Vec<f32> {
        let mut v: Vec<f32> = self.draw(rng, identity, &self.within).iter().map(|&x| x as f32).collect();
        normalise(&mut v);
        v
    }
}

/// Mean and standard deviation.
fn spread(values: &[f32]) -> (f32, f32) {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    (mean, (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt())
}

fn generate_real(faces: usize, queries: usize, statistics: &RealStatistics) -> Data {
    let dim = statistics.mean.len();
    let mut rng = Rng(0x5EED_FACE);
    let mut identities: Vec<Vec<f64>> = Vec::new();
    let mut vectors = Vec::with_capacity(faces * dim);
    while vectors.len() < faces * dim {
        let identity = statistics.identity(&mut rng);
        for _ in 0..1 + rng.below(19) {
            if vectors.len() < faces * dim {
                vectors.extend(statistics.photo(&mut rng, &identity));
            }
        }
        identities.push(identity);
    }
    let queries: Vec<Vec<f32>> = (0..queries)
        .map(|_| {
            let identity = rng.below(identities.len());
            statistics.photo(&mut rng, &identities[identity])
        })
        .collect();
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for i in 0..2000.min(identities.len() - 1) {
        let a = statistics.photo(&mut rng, &identities[i]);
        same.push(dot_scalar(&a, &statistics.photo(&mut rng, &identities[i])));
        different.push(dot_scalar(&a, &statistics.photo(&mut rng, &identities[i + 1])));
    }
    for (what, real, generated) in [
        ("same-person", &statistics.real_cosines.0, &same),
        ("different-person", &statistics.real_cosines.1, &different),
    ] {
        let ((rm, rs), (gm, gs)) = (spread(real), spread(generated));
        println!(
            "{what} cosines: real {rm:.3} ± {rs:.3} ({} pairs), generated {gm:.3} ± {gs:.3} ({} pairs)",
            real.len(),
            generated.len()
        );
    }
    Data { dim, vectors, queries }
}

/// The exact top `k` (cosine, key) of each query, by a full f32 scan on every core. Each core scans its
/// share of the faces once, a cache-sized block at a time against every query, so that 10 M faces (7 GiB
/// of f32) are read from memory once rather than once a query.
fn ground_truth(data: &Data, k: usize) -> Vec<Vec<(f32, u64)>> {
    const BLOCK: usize = 512;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let faces = data.vectors.len() / data.dim;
    let share = faces.div_ceil(threads).max(1);
    let partial: Vec<Vec<Vec<(f32, u64)>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..faces)
            .step_by(share)
            .map(|first| {
                scope.spawn(move || {
                    let mut tops = vec![Vec::with_capacity(k + 1); data.queries.len()];
                    let end = (first + share).min(faces);
                    for block in (first..end).step_by(BLOCK) {
                        let rows = &data.vectors[block * data.dim..(block + BLOCK).min(end) * data.dim];
                        for (query, top) in data.queries.iter().zip(&mut tops) {
                            for (offset, v) in rows.chunks_exact(data.dim).enumerate() {
                                keep_top(top, k, (dot(query, v), (block + offset) as u64));
                            }
                        }
                    }
                    tops
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    (0..data.queries.len())
        .map(|query| {
            let mut top = Vec::with_capacity(k + 1);
            for hit in partial.iter().flat_map(|tops| &tops[query]) {
                keep_top(&mut top, k, *hit);
            }
            top
        })
        .collect()
}

/// Adds `hit` to `top` (at most `k` hits, most similar first) if it belongs there.
fn keep_top(top: &mut Vec<(f32, u64)>, k: usize, hit: (f32, u64)) {
    if top.len() == k && hit.0 <= top[k - 1].0 {
        return;
    }
    let at = top.partition_point(|kept| kept.0 >= hit.0);
    top.insert(at, hit);
    top.truncate(k);
}

fn exact_top(data: &Data, query: &[f32], k: usize) -> Vec<(f32, u64)> {
    let mut scored: Vec<(f32, u64)> =
        data.vectors.chunks_exact(data.dim).enumerate().map(|(key, v)| (dot(query, v), key as u64)).collect();
    scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(k);
    scored.shrink_to_fit();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
}

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn micro_benchmark_kernels(dim: usize) {
    // 256 rows (192 KiB at dim 192) stay in the L2 cache: this measures the arithmetic, not memory.
    let data = generate(256, 1, dim);
    let rows: Vec<&[f32]> = data.vectors.chunks_exact(dim).collect();
    for (name, kernel) in [("dot (vectorised)", dot as fn(&[f32], &[f32]) -> f32), ("dot_scalar", dot_scalar)] {
        let rounds = 4000;
        let start = Instant::now();
        let mut sum = 0.0f32;
        for round in 0..rounds {
            let query = rows[round % rows.len()];
            for row in &rows {
                sum += kernel(std::hint::black_box(query), std::hint::black_box(row));
            }
        }
        let per_call = start.elapsed().as_secs_f64() * 1e9 / (rounds * rows.len()) as f64;
        println!("| {name} | {dim} | {per_call:.1} ns | (checksum {sum:.1}) |");
    }
}

fn main() {
    let options = options();
    println!("| kernel | dim | per call | |\n|---|---|---|---|");
    micro_benchmark_kernels(options.dim);
    if options.kernels_only {
        return;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\n{} faces, dim {}, {:?}, M {}, ef_construction {}, {} queries, {} cores",
        options.faces,
        options.dim,
        options.quantization,
        options.connectivity,
        options.expansion_add,
        options.queries,
        threads
    );
    let start = Instant::now();
    let data = match &options.real_statistics {
        Some(path) => generate_real(options.faces, options.queries, &real_statistics(path, options.dim)),
        None => generate(options.faces, options.queries, options.dim),
    };
    println!("generated in {:.1} s", start.elapsed().as_secs_f64());

    let config = IndexConfig {
        approximate_above: 20_000,
        quantization: options.quantization,
        connectivity: options.connectivity,
        expansion_add: options.expansion_add,
        build_threads: options.threads,
        ..IndexConfig::new(options.dim)
    };
    let mut index = if options.reuse_snapshot && options.snapshot.exists() {
        let start = Instant::now();
        let index = VectorIndex::load(&options.snapshot, config).expect("load the kept snapshot");
        let took = start.elapsed().as_secs_f64();
        println!("index loaded from {} in {took:.2} s (no build)", options.snapshot.display());
        index
    } else {
        build(&options, &data, config)
    };

    let start = Instant::now();
    let truth = ground_truth(&data, 10);
    println!("exact ground truth for {} queries in {:.1} s", data.queries.len(), start.elapsed().as_secs_f64());
    let exact_scan = {
        let start = Instant::now();
        let n = data.queries.len().min(20);
        for (query, truth) in data.queries[..n].iter().zip(&truth) {
            let top = exact_top(&data, query, 10);
            assert_eq!(keys_of_exact(&top), keys_of_exact(truth), "the two exact scans disagree");
        }
        start.elapsed() / n as u32
    };
    println!("exact f32 scan of all faces: {:.1} ms a query (one query at a time)\n", ms(exact_scan));

    let matches: usize = truth.iter().flatten().filter(|(cosine, _)| *cosine >= MATCH).count();
    println!("{matches} of the exact top-10 hits are matches (cosine >= {MATCH})\n");
    println!(
        "k = 10: ten candidates asked of the index. k = {SERVICE_K}: what the service asks for a top 10 (10 + its \
         re-rank margin of 32), re-ranked with the exact vectors (time included).\n"
    );
    println!(
        "| ef_search | k = 10: p50 | p99 | recall@10 | match recall | k = {SERVICE_K}: p50 | p99 | recall@10 | match recall |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    // Per ef (k = SERVICE_K): the slowest 1% of its first sweep's queries, to tell a repeated sweep's
    // tail made of the same queries (the graph's) from one made of others (the machine's); each query's
    // fastest time over its sweeps (the machine's interruptions removed); the number of sweeps.
    let mut first_tails: Vec<(usize, HashSet<usize>, Vec<Duration>, usize)> = Vec::new();
    let mut tail_notes = Vec::new();
    for &ef in &options.ef {
        index.set_expansion_search(ef);
        let (p50, p99, _, recall, match_recall, _) = measure(&index, &data, &truth, 10);
        let (p50_s, p99_s, _, recall_s, match_recall_s, per_query) = measure(&index, &data, &truth, SERVICE_K);
        let tail = slowest(&per_query, 0.01);
        match first_tails.iter_mut().find(|(seen, ..)| *seen == ef) {
            Some((_, first, fastest, sweeps)) => {
                tail_notes.push(format!(
                    "ef {ef}, k = {SERVICE_K}, sweep again: {} of its slowest {} queries were among the first sweep's \
                     slowest {}",
                    tail.intersection(first).count(),
                    tail.len(),
                    first.len()
                ));
                fastest.iter_mut().zip(&per_query).for_each(|(best, now)| *best = (*best).min(*now));
                *sweeps += 1;
            }
            None => first_tails.push((ef, tail, per_query, 1)),
        }
        println!(
            "| {ef} | {:.3} ms | {:.3} ms | {recall:.4} | {match_recall:.4} | {:.3} ms | {:.3} ms | {recall_s:.4} | \
             {match_recall_s:.4} |",
            ms(p50),
            ms(p99),
            ms(p50_s),
            ms(p99_s)
        );
    }

    for note in &tail_notes {
        println!("{note}");
    }
    for (ef, _, fastest, sweeps) in first_tails.iter().filter(|(.., sweeps)| *sweeps > 1) {
        let mut fastest = fastest.clone();
        fastest.sort();
        println!(
            "ef {ef}, k = {SERVICE_K}, each query's fastest of {sweeps} sweeps: p50 {:.3} ms, p99 {:.3} ms",
            ms(percentile(&fastest, 0.5)),
            ms(percentile(&fastest, 0.99))
        );
    }

    let start = Instant::now();
    index.save(&options.snapshot).expect("save");
    let save = start.elapsed();
    // The checkpoint goes only now: a run that stops during the measurements resumes from it.
    if options.checkpoint {
        std::fs::remove_file(options.snapshot.with_extension("partial")).ok();
    }
    let size = std::fs::metadata(&options.snapshot).map_or(0, |m| m.len());
    let reference: Vec<_> = data.queries.iter().take(100).map(|q| index.search(q, 10)).collect();
    drop(index);
    let rss_dropped = rss_bytes();
    let start = Instant::now();
    let last_ef = options.ef.last().copied().unwrap_or(config.expansion_search);
    let loaded =
        VectorIndex::load(&options.snapshot, IndexConfig { expansion_search: last_ef, ..config }).expect("load");
    let load = start.elapsed();
    let rss_loaded = rss_bytes().saturating_sub(rss_dropped);
    let same = data.queries.iter().take(100).zip(&reference).all(|(q, hits)| {
        let mut index = loaded.search(q, 10);
        index.truncate(hits.len());
        keys_of(&index) == keys_of(hits)
    });
    println!(
        "\nsnapshot: {:.0} MiB ({:.0} B/face), save {:.2} s, load {:.2} s, RSS after load {:.0} B/face, same results: {same}",
        size as f64 / (1 << 20) as f64,
        size as f64 / options.faces as f64,
        save.as_secs_f64(),
        load.as_secs_f64(),
        rss_loaded as f64 / options.faces as f64
    );
    if !options.keep_snapshot {
        std::fs::remove_file(&options.snapshot).ok();
    }
}

/// Builds the index: most faces in batches (the start-up rebuild from the store; one batch unless
/// `--chunk`), the last 10 000 one at a time (the steady state of IndexFaces calls); prints the build rates
/// and memory. With `--checkpoint` it saves the index after each chunk and starts from that file when it is
/// there (`main` deletes it once the final snapshot is saved); the build rate then counts the faces inserted
/// by this run, checkpoint saves not included.
fn build(options: &Options, data: &Data, config: IndexConfig) -> VectorIndex {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dim = options.dim;
    let singles = 10_000.min(options.faces / 10);
    let batch = options.faces - singles;
    let checkpoint = options.checkpoint.then(|| options.snapshot.with_extension("partial"));
    let rss_before = rss_bytes();
    let mut index = match &checkpoint {
        Some(path) if path.exists() => {
            let index = VectorIndex::load(path, config).expect("load the checkpoint");
            println!("resumed from {} with {} faces", path.display(), index.len());
            index
        }
        _ => VectorIndex::new(config),
    };
    let resumed = index.len();
    assert!(resumed <= batch, "the checkpoint holds more faces than the batch");
    let chunk = if options.chunk == 0 { batch } else { options.chunk };
    let mut building = Duration::ZERO;
    for first in (resumed..batch).step_by(chunk) {
        let end = (first + chunk).min(batch);
        let keys: Vec<u64> = (first as u64..end as u64).collect();
        let start = Instant::now();
        index.insert_batch(&keys, &data.vectors[first * dim..end * dim]);
        let took = start.elapsed();
        building += took;
        if chunk < batch {
            println!(
                "  {end} faces: this chunk at {:.0} faces/s, {:.0} s of building so far",
                keys.len() as f64 / took.as_secs_f64(),
                building.as_secs_f64()
            );
        }
        if let Some(path) = checkpoint.as_ref().filter(|_| end < batch) {
            index.save(path).expect("save the checkpoint");
        }
    }
    let start = Instant::now();
    for key in batch..options.faces {
        index.insert(key as u64, &data.vectors[key * dim..(key + 1) * dim]);
    }
    let singles_time = start.elapsed();
    let rss_index = rss_bytes().saturating_sub(rss_before);
    println!(
        "build: {} faces in {:.1} s ({:.0} faces/s on {} threads){}; then {singles} single inserts at {:.0} faces/s",
        batch - resumed,
        building.as_secs_f64(),
        (batch - resumed) as f64 / building.as_secs_f64(),
        if options.threads == 0 { threads } else { options.threads },
        if resumed > 0 { format!(" after resuming with {resumed}") } else { String::new() },
        singles as f64 / singles_time.as_secs_f64(),
    );
    println!(
        "memory: memory_bytes {:.0} B/face ({:.1} MiB), RSS delta {:.0} B/face ({:.1} MiB){}",
        index.memory_bytes() as f64 / options.faces as f64,
        index.memory_bytes() as f64 / (1 << 20) as f64,
        rss_index as f64 / options.faces as f64,
        rss_index as f64 / (1 << 20) as f64,
        if resumed > 0 { " (part of it loaded from the checkpoint)" } else { "" }
    );
    index
}

fn keys_of(hits: &[reko_index::Hit]) -> Vec<u64> {
    hits.iter().map(|hit| hit.key).collect()
}

fn keys_of_exact(hits: &[(f32, u64)]) -> Vec<u64> {
    hits.iter().map(|hit| hit.1).collect()
}

/// The cosine above which two faces count as one person's, for the match recall (same-identity pairs sit
/// around 0.5 here, look-alikes around 0.1).
const MATCH: f32 = 0.35;

/// Candidates the service asks of the index for a top 10: 10 + its re-rank margin (`RERANK_MARGIN` in
/// `crates/reko-service/src/storage.rs`).
const SERVICE_K: usize = 42;

/// The indexes of the slowest `share` of the queries.
fn slowest(latencies: &[Duration], share: f64) -> HashSet<usize> {
    let mut order: Vec<usize> = (0..latencies.len()).collect();
    order.sort_by(|a, b| latencies[*b].cmp(&latencies[*a]));
    let n = ((latencies.len() as f64 * share).ceil() as usize).max(1);
    order.into_iter().take(n).collect()
}

/// Single-threaded latencies (p50, p99, mean) of `k`-searches, the recall of the exact top 10 among the
/// top 10 after re-ranking the `k` hits exactly, the same recall restricted to matches, and each
/// query's latency in query order.
fn measure(
    index: &VectorIndex,
    data: &Data,
    truth: &[Vec<(f32, u64)>],
    k: usize,
) -> (Duration, Duration, Duration, f64, f64, Vec<Duration>) {
    let mut latencies = Vec::with_capacity(data.queries.len());
    let (mut found, mut matches, mut matches_found) = (0, 0, 0);
    for (query, truth) in data.queries.iter().zip(truth) {
        let start = Instant::now();
        let hits = index.search(query, k);
        let mut reranked: Vec<(f32, u64)> = hits
            .iter()
            .map(|hit| {
                let key = hit.key as usize;
                (dot(query, &data.vectors[key * data.dim..(key + 1) * data.dim]), hit.key)
            })
            .collect();
        reranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        latencies.push(start.elapsed());
        let top: HashSet<u64> = reranked.iter().take(10).map(|(_, key)| *key).collect();
        found += truth.iter().filter(|(_, key)| top.contains(key)).count();
        matches += truth.iter().filter(|(cosine, _)| *cosine >= MATCH).count();
        matches_found += truth.iter().filter(|(cosine, key)| *cosine >= MATCH && top.contains(key)).count();
    }
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    let per_query = latencies.clone();
    latencies.sort();
    let recall = found as f64 / (truth.len() * 10) as f64;
    let match_recall = matches_found as f64 / matches.max(1) as f64;
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99), mean, recall, match_recall, per_query)
}
