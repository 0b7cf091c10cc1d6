; SSE2 integer on XMM in long mode: add/sub/saturate, multiplies, compares,
; logic, shifts by register and imm8 (incl. PSLLDQ/PSRLDQ), pack/unpack
; (incl. QDQ), PSHUFD/PSHUFHW/PSHUFLW, PMOVMSKB, PINSRW/PEXTRW and
; MASKMOVDQU (stores to [rdi]). Expected registers are those the host CPU
; produces running the body natively. SDM Vol. 1 11.4.3; Vol. 2 per instruction.
; mode: long
; backends: soft   (the reference /dev/kvm here emulates guests and cannot emulate MMX/SSE)
; expect: rax=0x1044 rbx=0x3b2a rcx=0x5fff244068f80840 rdx=0x7f6e66f73b2a1909
; expect: r8=0xffffffee0a8fffe6 r9=0x3b2afb90001f r10=0x8040fe863f102fb8 r11=0x20fe5f249875d432 r12=0x4ab1 r13=0x20fe
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, cr4
  bts rax, 9                   ; CR4.OSFXSR
  mov cr4, rax
; body
  lea rdi, [rel scratch]
  pcmpeqd xmm15, xmm15         ; all-ones store mask
  pxor xmm0, xmm0
  por xmm0, [rel va]
  pxor xmm1, xmm1
  por xmm1, [rel vb]
  paddsw xmm0, xmm1
  pmuludq xmm0, [rel va]
  psubusb xmm0, [rel vb]
  pavgw xmm0, xmm1
  pmovmskb eax, xmm0
  pextrw ebx, xmm0, 5
  maskmovdqu xmm0, xmm15
  mov rcx, [rdi]
  mov rdx, [rdi+8]
  pxor xmm2, xmm2
  por xmm2, [rel va]
  packssdw xmm2, xmm1
  punpckhwd xmm2, [rel vb]
  pshufd xmm3, xmm2, 0x4e
  pshufhw xmm3, xmm3, 0x93
  pshuflw xmm3, xmm3, 0x39
  pmaddwd xmm3, [rel va]
  pcmpgtd xmm3, xmm1
  pslldq xmm3, 5
  psrldq xmm2, 3
  por xmm3, xmm2
  psrad xmm3, [rel cnt]
  pinsrw xmm3, ebx, 6
  maskmovdqu xmm3, xmm15
  mov r8, [rdi]
  mov r9, [rdi+8]
  pxor xmm4, xmm4
  por xmm4, [rel vb]
  psadbw xmm4, [rel va]
  punpcklqdq xmm4, xmm1
  psllw xmm4, 9
  psrlq xmm4, [rel cnt]
  paddq xmm4, [rel va]
  pmulhuw xmm4, xmm1
  pminsw xmm4, xmm0
  pxor xmm4, xmm2
  pandn xmm4, xmm15
  packuswb xmm4, xmm3
  punpckhqdq xmm4, xmm0
  psrlw xmm4, 2
  psubq xmm4, xmm1
  maskmovdqu xmm4, xmm15
  mov r10, [rdi]
  mov r11, [rdi+8]
  pmovmskb r12d, xmm4
  pextrw r13d, xmm4, 7
; end body
  hlt
; data
align 16
va: dq 0x80017f02ff102030, 0x0123456789abcdef
vb: dq 0x7ffe0180c0f01008, 0xfedcba9876543210
cnt: dq 3, 0
scratch: dq 0, 0
