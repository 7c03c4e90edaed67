//! The honest validator guide (validator.md) functions of this preset: duties, aggregation
//! selection, signing roots. Pure: no I/O, no keys.
