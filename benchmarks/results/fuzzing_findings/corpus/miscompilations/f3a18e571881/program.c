void id1 ( void ) {
unsigned int id2 , id3 , id4 ;
double * id5 ;
for ( id3 = 0 ;
id3 < 512 ;
id3 += 512 ) {
double id6 , id7 ;
id4 = id2 + id3 ;
id6 += id7 ;
id7 = id5 [ id4 ] + id6 ;
}
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
  printf("checksum = %08X\n", gensdk_crc ^ 0xFFFFFFFFu);
}
int main(void) {
  atexit(gensdk_report);
  id1();
  return 0;
}
