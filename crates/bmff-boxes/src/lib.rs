//! Pure ISO BMFF box encoding (to be written).
