//! Per-request classifier costs, each next to a baseline so the figures read as ratios:
//! `parse_request` vs a bare `httparse` parse of the same head, `canonical_path` on a
//! canonical path vs one it refuses, the ClientHello parser on a
//! single-record vs a two-record post-quantum hello, and the chunked tracker vs memchr-free
//! byte counting.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use l7proxy::classify::{ChunkedDecoder, canonical_path, parse_client_hello, parse_request};

const HEAD: &[u8] = b"GET /api/v1/items/42?full=1 HTTP/1.1\r\nHost: shop.example.com\r\n\
User-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\
Cookie: session=0123456789abcdef\r\nX-Request-Id: 7f8e9d\r\n\r\n";
const HELLO: &[u8] = include_bytes!("../src/classify/testdata/rustls_pq.bin");

fn http(c: &mut Criterion) {
    c.bench_function("httparse_only", |b| {
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 100];
            let mut req = httparse::Request::new(&mut headers);
            black_box(req.parse(black_box(HEAD)).is_ok())
        })
    });
    c.bench_function("parse_request", |b| {
        b.iter(|| black_box(parse_request(black_box(HEAD), 16 * 1024)))
    });
}

fn paths(c: &mut Criterion) {
    c.bench_function("canonical_path_ok", |b| {
        b.iter(|| black_box(canonical_path(black_box("/api/v1/items/42?full=1"))))
    });
    c.bench_function("canonical_path_refused", |b| {
        b.iter(|| {
            black_box(canonical_path(black_box(
                "/api/v1/x/../items/%34%32?full=1",
            )))
        })
    });
}

fn tls(c: &mut Criterion) {
    let msg = &HELLO[5..];
    let mut two = Vec::new();
    for part in [&msg[..700], &msg[700..]] {
        two.extend_from_slice(&[22, 3, 1]);
        two.extend_from_slice(&u16::try_from(part.len()).unwrap_or(0).to_be_bytes());
        two.extend_from_slice(part);
    }
    c.bench_function("client_hello_one_record", |b| {
        b.iter(|| black_box(parse_client_hello(black_box(HELLO))))
    });
    c.bench_function("client_hello_two_records", |b| {
        b.iter(|| black_box(parse_client_hello(black_box(&two))))
    });
}

fn chunked(c: &mut Criterion) {
    let mut body = Vec::new();
    for _ in 0..64 {
        body.extend_from_slice(b"400\r\n");
        body.extend_from_slice(&[b'x'; 0x400]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    c.bench_function("chunked_64k", |b| {
        b.iter(|| black_box(ChunkedDecoder::new().advance(black_box(&body))))
    });
    c.bench_function("sum_64k_baseline", |b| {
        b.iter(|| black_box(black_box(&body).iter().map(|&x| u64::from(x)).sum::<u64>()))
    });
}

criterion_group!(benches, http, paths, tls, chunked);
criterion_main!(benches);
