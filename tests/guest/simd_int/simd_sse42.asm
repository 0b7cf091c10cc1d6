; SSE4.2 in long mode: a strlen with PCMPISTRI, a substring search with
; PCMPESTRI (equal ordered), ranges with PCMPISTRM (byte mask to XMM0),
; the flags of PCMPESTRM with 64-bit lengths (REX.W), PCMPGTQ, and CRC32C
; over a buffer with every operand width. Expected registers are those the
; host CPU produces running the body natively. SDM Vol. 2B 4.1; Vol. 2A CRC32.
; mode: long
; backends: soft   (the reference /dev/kvm here emulates guests and cannot emulate MMX/SSE)
; expect: rax=0x2b rbx=0x2f809c46 rcx=0x8 rdx=0x1
; expect: r8=0x2b r9=0x8 r10=0x1 r11=0xffffffff00ffff00 r12=0xffffffffff00ff r13=0x10100 r14=0x0 r15=0xffff
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, cr4
  bts rax, 9                   ; CR4.OSFXSR
  mov cr4, rax
; body
  ; strlen(text) 16 bytes at a time
  lea rsi, [rel text]
  pxor xmm0, xmm0
  xor r8d, r8d
.strlen:
  pcmpistri xmm0, [rsi + r8], 0x08   ; equal each vs. empty: index of the NUL
  lea r8, [r8 + rcx]
  jnz .strlen                        ; ZF = 0: no NUL in this block

  ; substring "fox" in text, explicit lengths
  pxor xmm1, xmm1
  pinsrd xmm1, [rel needle], 0
  mov eax, 3
  mov edx, 16
  lea rsi, [rel text]
  pcmpestri xmm1, [rsi + 8], 0x0c
  mov r9, rcx
  setc r10b
  movzx r10d, r10b
  ; ranges a-z: mask of lower-case letters
  pxor xmm2, xmm2
  pinsrw xmm2, [rel range], 0
  pcmpistrm xmm2, [rsi], 0x44
  pextrq r11, xmm0, 0
  pextrq r12, xmm0, 1
  ; explicit lengths, REX.W, negative and huge lengths
  mov rax, -5
  mov rdx, 0x8000000000000000
  pcmpestrm xmm1, [rsi], 0x01
  setz r13b
  sets r14b
  seto r15b
  shl r13, 8
  or r13, r14
  shl r13, 8
  or r13, r15
  pextrd r14d, xmm0, 0
  ; PCMPGTQ
  movntdqa xmm3, [rel text]
  movntdqa xmm4, [rel text + 32]
  pcmpgtq xmm3, xmm4
  pmovmskb r15d, xmm3
  ; CRC32C over 32 bytes with each width
  mov eax, 0xffffffff
  crc32 eax, byte [rsi]
  crc32 eax, word [rsi + 1]
  crc32 eax, dword [rsi + 3]
  crc32 rax, qword [rsi + 7]
  mov bl, [rsi + 15]
  crc32 eax, bl
  mov cx, [rsi + 16]
  crc32 eax, cx
  mov rdx, [rsi + 18]
  crc32 rax, rdx
  crc32 rax, byte [rsi + 26]
  not eax
  mov ebx, eax
  mov ecx, r9d
  mov edx, r10d
  mov eax, r8d
; end body
  hlt
; data
align 16
text: db "The quick brown fox jumps over the lazy dog", 0, 0, 0, 0, 0
      times 16 db 0
needle: db "fox", 0
range: db "az"
