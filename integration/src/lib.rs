//! Network-namespace lab for l7proxy's end-to-end tests: namespaces joined by veth pairs,
//! real servers and real clients, cases described as data.
