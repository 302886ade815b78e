/**
 * Whether a test may skip for a missing prerequisite (Chromium, curl, the
 * PostgreSQL binaries, an optional runtime). Locally a missing tool skips the
 * test; under CI (`CI` set, as `.ci/run` does) nothing may skip silently: the
 * test runs and fails, saying what is missing.
 *
 * @param missing - true when the prerequisite is absent
 * @returns true when the test should be skipped
 */
export function skipWhenMissing(missing: boolean): boolean {
  return missing && !process.env.CI;
}
