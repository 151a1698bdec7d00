//! gosan
