/// <reference path="./quarry-plugin-types.d.ts" />
declare module 'quarry:plugin/log@0.2.0' {
  export function write(level: Level, message: string): void;
  export type Level = import('quarry:plugin/types@0.2.0').Level;
}
