// What "now" is. The composition root hands one clock to the parts that compare what a charger says with the
// present (the OCPP edge's receipt times, sessions, billing's wait for late transaction events), so that a test
// can run them at a time it chooses and moves by hand instead of the date the test happens to run on.
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
