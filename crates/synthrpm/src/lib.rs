//! Builds small but real RPM files for tests, benchmarks and the example
//! repository: several versions and epochs, file requires, scriptlets,
//! obsoletes and conflicts.
