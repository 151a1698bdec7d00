//! Happens-before engine: vector clocks and FastTrack epochs (filled by the race-detector issue).
