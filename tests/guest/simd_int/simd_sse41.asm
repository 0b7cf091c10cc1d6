; SSE4.1 integer in long mode: PMULLD, PMULDQ, PMIN/PMAX SB/SD/UW/UD,
; PCMPEQQ, PACKUSDW, PMOVSX/PMOVZX, PBLENDW, PBLENDVB (XMM0 mask), PTEST
; (flags), PEXTRB/W/D/Q, PINSRB/D/Q, PHMINPOSUW, MPSADBW, MOVNTDQA.
; Expected registers are those the host CPU produces running the body
; natively. SDM Vol. 1 12.10; Vol. 2 per instruction.
; mode: long
; backends: soft   (the reference /dev/kvm here emulates guests and cannot emulate MMX/SSE)
; expect: rax=0x80017f02ff102030 rbx=0x123456789abcdef rcx=0xffff7f02 rdx=0xffff
; expect: r8=0x1 r9=0xfffe0012406f31a0 r10=0x540034f663342e r11=0x20012 r12=0x7ffe02b7c0ee100b r13=0x1dc019876980110 r14=0x100 r15=0x1
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, cr4
  bts rax, 9                   ; CR4.OSFXSR
  mov cr4, rax
; body
  lea rdi, [rel scratch]
  movntdqa xmm1, [rel va]
  movntdqa xmm2, [rel vb]
  pxor xmm3, xmm3
  por xmm3, xmm1
  pmulld xmm3, xmm2
  pmuldq xmm3, [rel va]
  pminsb xmm3, xmm2
  pmaxud xmm3, [rel vb]
  pminuw xmm3, xmm1
  pmaxsd xmm3, xmm1
  pextrq rax, xmm3, 0
  pextrq rbx, xmm3, 1
  pxor xmm4, xmm4
  por xmm4, xmm2
  pmaxsb xmm4, xmm1
  pminsd xmm4, [rel va]
  pmaxuw xmm4, xmm2
  pminud xmm4, xmm1
  packusdw xmm4, xmm2
  pcmpeqq xmm4, xmm4
  pblendw xmm4, xmm1, 0xa5
  pextrd ecx, xmm4, 1
  pextrw edx, xmm4, 6
  pextrb r8d, xmm4, 15
  pmovsxbw xmm5, [rel vb+3]
  pmovzxwq xmm6, xmm1
  pmovsxdq xmm7, xmm2
  pmovzxbd xmm8, [rel va+1]
  pmovsxbq xmm9, xmm2
  pmovzxdq xmm10, [rel vb+4]
  paddq xmm5, xmm6
  paddq xmm5, xmm7
  paddq xmm5, xmm8
  paddq xmm5, xmm9
  paddq xmm5, xmm10
  pextrq r9, xmm5, 0
  pextrq r10, xmm5, 1
  pinsrb xmm5, [rel vb+2], 9
  pinsrd xmm5, r9d, 0
  pinsrq xmm5, rbx, 1
  phminposuw xmm6, xmm5
  pextrd r11d, xmm6, 0
  mpsadbw xmm5, xmm1, 5
  pxor xmm0, xmm0
  por xmm0, [rel mask]
  pblendvb xmm5, xmm2
  pextrq r12, xmm5, 0
  pextrq r13, xmm5, 1
  xor r14d, r14d
  xor r15d, r15d
  ptest xmm1, xmm2
  setz r14b
  setc r15b
  shl r14, 8
  shl r15, 8
  pxor xmm11, xmm11
  ptest xmm11, [rel va]
  setz r14b
  setc r15b
  pcmpeqd xmm12, xmm12
  shl r14, 8
  shl r15, 8
  ptest xmm12, xmm2
  setz r14b
  setc r15b
; end body
  hlt
; data
align 16
va: dq 0x80017f02ff102030, 0x0123456789abcdef
vb: dq 0x7ffe0180c0f01008, 0xfedcba9876543210
mask: dq 0x80ff007f8001ff00, 0x00800081fe7f0180
scratch: dq 0, 0
