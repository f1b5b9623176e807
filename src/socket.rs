//! Socket options the data path needs (IP_TRANSPARENT, SO_MARK, SO_LINGER, TCP_INFO,
//! splice). The only module allowed to use `unsafe`.
