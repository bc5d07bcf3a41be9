// Coordinates last heard from other nodes (their ack payloads), bounded by
// limits.coordinateCache: the least recently updated entry is evicted first.
import type { Coordinate } from './coordinate.ts';
import { cloneCoordinate } from './vivaldi.ts';

export class CoordinateCache {
  private readonly byNode = new Map<string, Coordinate>();
  constructor(private readonly max: number, private readonly onEvict: () => void = () => {}) {}

  set(node: string, c: Coordinate): void {
    this.byNode.delete(node);
    this.byNode.set(node, cloneCoordinate(c));
    while (this.byNode.size > this.max) {
      this.byNode.delete(this.byNode.keys().next().value as string);
      this.onEvict();
    }
  }

  get(node: string): Coordinate | null {
    const c = this.byNode.get(node);
    return c ? cloneCoordinate(c) : null;
  }

  delete(node: string): void { this.byNode.delete(node); }
  get size(): number { return this.byNode.size; }
}
