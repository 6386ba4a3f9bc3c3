// capsa CLI entry point (placeholder until the verbs land).
console.log("capsa");
