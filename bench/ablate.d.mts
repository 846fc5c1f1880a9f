export interface AblationEdit {
  file: string;
  find: string;
  replace: string;
}
export declare const VARIANTS: { id: string; what: string; edits: AblationEdit[] }[];
export declare function applyEdits(dir: string, edits: AblationEdit[]): void;
