short int id1 ;
int gensdk_main ( void ) {
id1 = 65535.0 ;
return 0 ;
}

int printf(const char *, ...);
int atexit(void (*)(void));
/* gensdk: what follows prints a checksum of the globals at exit */
static unsigned int gensdk_crc = 0xFFFFFFFFu;
static void gensdk_hash(const void *p, unsigned long n) {
  const unsigned char *b = (const unsigned char *) p;
  int k;
  while (n--) {
    gensdk_crc ^= *b++;
    for (k = 0; k < 8; k++) gensdk_crc = (gensdk_crc >> 1) ^ (0xEDB88320u & (0u - (gensdk_crc & 1u)));
  }
}
static void gensdk_report(void) {
  gensdk_hash(&id1, sizeof id1);
  printf("checksum = %08X\n", gensdk_crc ^ 0xFFFFFFFFu);
}
int main(void) {
  atexit(gensdk_report);
  gensdk_main();
  return 0;
}
