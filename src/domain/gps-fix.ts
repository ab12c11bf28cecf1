/**
 * Whether a tracker's record carries a GPS fix. Without one, a Teltonika tracker still sends records (periodic
 * reports, IO changes) with the last valid coordinates, or 0,0 before its first fix since power-up, and 0
 * satellites, speed and angle (Teltonika's AVL data protocol). Such a record is stored as received; timing it would
 * put the car back where it lost the sky, hide the outage from the signal-loss check, and make the next real fix
 * look like a jump, so a line crossed meanwhile would be lost. The live map does not draw it either.
 */
export const hasGpsFix = (p: { latitude: number; longitude: number; satellites: number }): boolean =>
  p.satellites !== 0 && !(p.latitude === 0 && p.longitude === 0);

/**
 * hasGpsFix as a condition on `positions` rows (a row stored without a satellite count is taken as a fix, as before
 * the count was looked at).
 */
export const GPS_FIX_SQL = 'satellites IS DISTINCT FROM 0 AND NOT (latitude = 0 AND longitude = 0)';
