//! The beacon node (`ember bn`): slot clock, chain writer, import pipeline, pools, block
//! production, in-process validator duties, and the devnet supervisor.
