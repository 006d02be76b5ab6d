//! Everything X.509 and rustls for Gongxin lives here (DESIGN §2, §3).
