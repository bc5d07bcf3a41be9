// A network coordinate as serf 0.9.4 carries it (serf/coordinate Coordinate;
// SERF-PROTOCOL.md §3.12): Vivaldi position, error estimate, adjustment and height.
export interface Coordinate { vec: number[]; error: number; adjustment: number; height: number }
