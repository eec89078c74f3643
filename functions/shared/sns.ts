/**
 * SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less
 * than 100 characters long."
 */
export const SUBJECT_MAX = 99;
