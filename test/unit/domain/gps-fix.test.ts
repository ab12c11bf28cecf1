import { describe, expect, it } from 'vitest';
import { hasGpsFix } from '../../../src/domain/gps-fix.ts';

describe('hasGpsFix', () => {
  it('takes a record with satellites and coordinates as a fix', () => {
    expect(hasGpsFix({ latitude: 31.43, longitude: -4.23, satellites: 11 })).toBe(true);
    expect(hasGpsFix({ latitude: 31.43, longitude: -4.23, satellites: 1 })).toBe(true);
    // On the equator or the prime meridian, not both: a real place.
    expect(hasGpsFix({ latitude: 0, longitude: 9.45, satellites: 8 })).toBe(true);
    expect(hasGpsFix({ latitude: 5.3, longitude: 0, satellites: 8 })).toBe(true);
  });

  it('refuses a record without satellites, where a Teltonika tracker repeats its last valid coordinates', () => {
    expect(hasGpsFix({ latitude: 31.43, longitude: -4.23, satellites: 0 })).toBe(false);
  });

  it('refuses 0,0, what a tracker reports before its first fix, whatever its satellite count says', () => {
    expect(hasGpsFix({ latitude: 0, longitude: 0, satellites: 0 })).toBe(false);
    expect(hasGpsFix({ latitude: 0, longitude: 0, satellites: 7 })).toBe(false);
    expect(hasGpsFix({ latitude: -0, longitude: 0, satellites: 7 })).toBe(false);
  });
});
